// Checks PowerShell files for syntax that Windows PowerShell 5.1 lacks and
// for calls that run text as code, and exits non-zero when it finds any,
// printing each with its line and column. Usage: node compat.js FILE...
//
// Parse errors are check.js's business: the operators ??, ??=, ?. and the
// ternary ?: of PowerShell 7 already fail to parse with tree-sitter-powershell.
// The pipeline chain operators && and || parse, so this script rejects them,
// and named "clean" blocks (PowerShell 7.3) as well.
import { readFileSync } from "node:fs";
import Parser from "tree-sitter";
import PowerShell from "tree-sitter-powershell/bindings/node/index.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node compat.js FILE...");
  process.exit(2);
}

// Commands and methods that turn a string into code. A value from a user
// must never reach one, so these files do not use them at all.
const codeFromText = new Map([
  ["invoke-expression", "Invoke-Expression runs a string as code"],
  ["iex", "iex (Invoke-Expression) runs a string as code"],
]);
const codeFromTextMethods = [
  [/\[scriptblock\]::create\s*\(/i, "[scriptblock]::Create runs a string as code"],
  [/\.addscript\s*\(/i, "AddScript runs a string as code"],
];

const parser = new Parser();
parser.setLanguage(PowerShell);

// Collects the problems under node.
function findProblems(node, problems) {
  if (node.type === "&&" || node.type === "||") {
    problems.push([node, `the pipeline chain operator ${node.type} needs PowerShell 7; use if ($?) or -and`]);
  }
  if (node.type === "block_name" && node.text.toLowerCase() === "clean") {
    problems.push([node, "the clean block needs PowerShell 7.3"]);
  }
  if (node.type === "command_name") {
    const reason = codeFromText.get(node.text.toLowerCase());
    if (reason) {
      problems.push([node, reason]);
    }
  }
  for (const child of node.children) {
    findProblems(child, problems);
  }
}

let failed = 0;
for (const file of files) {
  const source = readFileSync(file, "utf8");
  const tree = parser.parse(source, null, { bufferSize: 4 * source.length + 65536 });
  const problems = [];
  findProblems(tree.rootNode, problems);
  const lines = source.split("\n");
  lines.forEach((line, index) => {
    const code = line.replace(/#.*$/, "");
    for (const [pattern, reason] of codeFromTextMethods) {
      const match = pattern.exec(code);
      if (match) {
        problems.push([{ startPosition: { row: index, column: match.index } }, reason]);
      }
    }
  });
  if (problems.length === 0) {
    console.log(`ok ${file}`);
    continue;
  }
  failed++;
  for (const [node, reason] of problems) {
    console.log(`${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${reason}`);
  }
}
console.log(`${files.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
