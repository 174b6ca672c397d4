// Parses PowerShell files with tree-sitter-powershell and exits non-zero
// when any file has an ERROR or MISSING node, printing each one with its
// line and column. Usage: node check.js FILE...
import { readFileSync } from "node:fs";
import Parser from "tree-sitter";
import PowerShell from "tree-sitter-powershell/bindings/node/index.js";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node check.js FILE...");
  process.exit(2);
}

const parser = new Parser();
parser.setLanguage(PowerShell);

// Collects the ERROR and MISSING nodes under node.
function findProblems(node, problems) {
  if (node.type === "ERROR" || node.isMissing) {
    problems.push(node);
  }
  if (!node.hasError && !node.isMissing) {
    return;
  }
  for (const child of node.children) {
    findProblems(child, problems);
  }
}

let failed = 0;
for (const file of files) {
  const source = readFileSync(file, "utf8");
  // The default buffer of the node binding is too small for large scripts.
  const tree = parser.parse(source, null, { bufferSize: 4 * source.length + 65536 });
  const problems = [];
  findProblems(tree.rootNode, problems);
  if (problems.length === 0) {
    console.log(`ok ${file}`);
    continue;
  }
  failed++;
  for (const node of problems) {
    const where = `${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
    const kind = node.isMissing ? `MISSING ${node.type}` : "ERROR";
    const text = source.slice(node.startIndex, Math.min(node.endIndex, node.startIndex + 60));
    console.log(`${where}: ${kind} near ${JSON.stringify(text)}`);
  }
}
console.log(`${files.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
