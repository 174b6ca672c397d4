// Checks a PowerShell script module against its manifest and the rules its
// cmdlets follow, and exits non-zero on any violation:
//   - FunctionsToExport in the manifest and Export-ModuleMember in the
//     module list the same functions, each defined in the module;
//   - every exported function has [CmdletBinding()] and comment-based help
//     with .SYNOPSIS;
//   - exported functions whose verb changes state (New, Start, Stop,
//     Suspend, Resume, Remove, Set, Restart) declare SupportsShouldProcess,
//     so that -WhatIf and -Confirm work;
//   - a -Name parameter of an exported function binds by property name from
//     the pipeline;
//   - every REQUIRED name is exported.
// Usage: node module.js MANIFEST.psd1 [REQUIRED...]
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import Parser from "tree-sitter";
import PowerShell from "tree-sitter-powershell/bindings/node/index.js";

const [manifestPath, ...required] = process.argv.slice(2);
if (!manifestPath) {
  console.error("usage: node module.js MANIFEST.psd1 [REQUIRED...]");
  process.exit(2);
}

const parser = new Parser();
parser.setLanguage(PowerShell);

function parse(path) {
  const source = readFileSync(path, "utf8");
  return parser.parse(source, null, { bufferSize: 4 * source.length + 65536 }).rootNode;
}

// Returns every node under node, depth first.
function* descendants(node) {
  for (const child of node.children) {
    yield child;
    yield* descendants(child);
  }
}

// Returns the values of the string literals under node, without quotes.
function strings(node) {
  return [...descendants(node)]
    .filter((n) => n.type === "string_literal")
    .map((n) => n.text.slice(1, -1));
}

// Returns the value of a top-level key of the manifest's hashtable.
function manifestEntry(root, key) {
  for (const node of descendants(root)) {
    if (node.type !== "hash_entry") {
      continue;
    }
    const name = node.children.find((c) => c.type === "key_expression");
    if (name && name.text.toLowerCase() === key.toLowerCase()) {
      return node;
    }
  }
  return null;
}

const problems = [];
const manifest = parse(manifestPath);
const exportsEntry = manifestEntry(manifest, "FunctionsToExport");
const rootEntry = manifestEntry(manifest, "RootModule");
if (!exportsEntry || !rootEntry) {
  console.log(`${manifestPath}: the manifest needs RootModule and FunctionsToExport`);
  process.exit(1);
}
const manifestExports = strings(exportsEntry);
const modulePath = join(dirname(manifestPath), strings(rootEntry)[0]);
const module = parse(modulePath);

const functions = new Map();
for (const node of module.namedChildren.flatMap((c) => (c.type === "statement_list" ? c.namedChildren : [c]))) {
  if (node.type === "function_statement") {
    const name = node.children.find((c) => c.type === "function_name").text;
    functions.set(name.toLowerCase(), node);
  }
}
const exportCommand = [...descendants(module)].find(
  (n) => n.type === "command" && n.children.some((c) => c.type === "command_name" && c.text.toLowerCase() === "export-modulemember"),
);
const moduleExports = exportCommand ? strings(exportCommand) : [];

const lower = (names) => names.map((n) => n.toLowerCase());
for (const name of manifestExports) {
  if (!lower(moduleExports).includes(name.toLowerCase())) {
    problems.push(`${name} is in FunctionsToExport of ${manifestPath} but not in Export-ModuleMember of ${modulePath}`);
  }
}
for (const name of moduleExports) {
  if (!lower(manifestExports).includes(name.toLowerCase())) {
    problems.push(`${name} is in Export-ModuleMember of ${modulePath} but not in FunctionsToExport of ${manifestPath}`);
  }
}
if (new Set(lower(manifestExports)).size !== manifestExports.length) {
  problems.push(`FunctionsToExport of ${manifestPath} lists a function twice`);
}
for (const name of required) {
  if (!lower(manifestExports).includes(name.toLowerCase())) {
    problems.push(`${name} is required but not exported`);
  }
}

const stateVerbs = ["new", "start", "stop", "suspend", "resume", "remove", "set", "restart"];
for (const name of manifestExports) {
  const node = functions.get(name.toLowerCase());
  const where = `${modulePath}:${node ? node.startPosition.row + 1 : 0}`;
  if (!node) {
    problems.push(`${name} is exported but ${modulePath} does not define it`);
    continue;
  }
  const paramBlock = [...descendants(node)].find((n) => n.type === "param_block");
  const binding = paramBlock
    ? paramBlock.children
        .filter((c) => c.type === "attribute_list")
        .flatMap((list) => list.namedChildren)
        .find((a) => /^\[\s*CmdletBinding\b/i.test(a.text))
    : null;
  if (!binding) {
    problems.push(`${where}: ${name} has no [CmdletBinding()]`);
  }
  const verb = name.split("-")[0].toLowerCase();
  if (stateVerbs.includes(verb) && !(binding && /SupportsShouldProcess\s*=\s*\$true/i.test(binding.text))) {
    problems.push(`${where}: ${name} changes state but does not declare SupportsShouldProcess = $true`);
  }
  let comment = node.previousSibling;
  while (comment && comment.type === "comment" && !comment.text.includes(".SYNOPSIS")) {
    comment = comment.previousSibling;
  }
  if (!comment || comment.type !== "comment") {
    problems.push(`${where}: ${name} has no comment-based help with .SYNOPSIS before it`);
  }
  for (const parameter of paramBlock ? [...descendants(paramBlock)].filter((n) => n.type === "script_parameter") : []) {
    const variable = parameter.children.find((c) => c.type === "variable");
    if (variable && variable.text.toLowerCase() === "$name" && !/ValueFromPipelineByPropertyName\s*=\s*\$true/i.test(parameter.text)) {
      problems.push(`${where}: the -Name parameter of ${name} does not bind ValueFromPipelineByPropertyName`);
    }
  }
}

for (const problem of problems) {
  console.log(problem);
}
console.log(`${manifestExports.length} exported functions checked, ${problems.length} problems`);
process.exit(problems.length === 0 ? 0 : 1);
