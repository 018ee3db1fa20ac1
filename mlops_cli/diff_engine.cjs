// The CDK's own template-diff engine, driven once for every stack of a comparison.
//
// The engine is @aws-cdk/cloudformation-diff, the library `cdk diff` runs (pinned in
// package.json). `cdk diff --app <assembly> --template` costs one CLI process per stack
// (~1.7 s each); here one Node process diffs every stack. Measured on the 2-core machines:
// the library loads in ~1.0 s of CPU, the CLI's 16 MB bundle (whose public DiffFormatter
// wraps the same fullDiff) in ~2.0 s, so the library is used and the bundle is the
// fallback where the library is not installed.
// The engine decides each change's impact from the CloudFormation resource specification
// (which properties force a replacement); this script only turns its result into JSON.
//
// stdin:  {"node_modules": "<dir>", "text": bool, "stacks": [{"name", "old", "new"}]}   (old/new: template or null)
// stdout: {"engine": "<package> <version>", "stacks": [{"name", "empty", "text", "resources": [...], "iam": {...}}]}
"use strict";
const path = require("node:path");
const fs = require("node:fs");

function readStdin() {
  return fs.readFileSync(0, "utf8");
}

function plain(value) {
  return value === undefined ? null : value;
}

function resourceJson(logicalId, change) {
  const properties = {};
  for (const [name, update] of Object.entries(change.propertyUpdates || {})) {
    properties[name] = {
      old: plain(update.oldValue),
      new: plain(update.newValue),
      impact: update.changeImpact || null,
    };
  }
  const other = {};
  for (const [name, update] of Object.entries(change.otherChanges || {})) {
    other[name] = { old: plain(update.oldValue), new: plain(update.newValue) };
  }
  return {
    logical_id: logicalId,
    old_type: plain(change.oldResourceType),
    new_type: plain(change.newResourceType),
    impact: change.changeImpact,
    addition: change.isAddition,
    removal: change.isRemoval,
    properties,
    other,
  };
}

function statementJson(statement, sign) {
  const rendered = statement.render();
  return {
    change: sign,
    effect: rendered.effect,
    principal: rendered.principal,
    action: rendered.action,
    resource: rendered.resource,
    condition: rendered.condition,
  };
}

const REPLACING = new Set(["WILL_REPLACE", "MAY_REPLACE"]);
const MARK = "(new after replacement)";

// References to a resource that is replaced resolve to new values at deploy time (a new
// name, ARN or id), which a template diff cannot see: `Model` replaced leaves the
// EndpointConfig's `{"Fn::GetAtt": ["Model", "ModelName"]}` textually unchanged. Substitute
// those references with a marker and let the engine judge the referencing property again.
function substitute(value, replaced) {
  if (Array.isArray(value)) return value.map((v) => substitute(v, replaced));
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const [key] = keys;
    const arg = value[key];
    if (key === "Ref" && replaced.has(arg)) return `\${${arg}} ${MARK}`;
    if (key === "Fn::GetAtt") {
      const [id, attr] = Array.isArray(arg) ? arg : String(arg).split(".");
      if (replaced.has(id)) return `\${${id}.${attr}} ${MARK}`;
    }
    if (key === "Fn::Sub") {
      const text = Array.isArray(arg) ? arg[0] : arg;
      for (const id of replaced) {
        if (typeof text === "string" && (text.includes(`\${${id}}`) || text.includes(`\${${id}.`))) {
          return `\${${id}} ${MARK}`;
        }
      }
    }
  }
  return Object.fromEntries(keys.map((k) => [k, substitute(value[k], replaced)]));
}

function withReplacedReferences(template, replaced) {
  const resources = {};
  for (const [id, body] of Object.entries(template.Resources || {})) {
    resources[id] = body && body.Properties ? { ...body, Properties: substitute(body.Properties, replaced) } : body;
  }
  return { ...template, Resources: resources };
}

function replacedIds(diff) {
  const ids = new Set();
  diff.resources.forEachDifference((id, change) => {
    if (REPLACING.has(change.changeImpact) || (change.oldResourceType && change.newResourceType && change.oldResourceType !== change.newResourceType)) ids.add(id);
  });
  return ids;
}

function loadEngine(modules) {
  const library = path.join(modules, "@aws-cdk", "cloudformation-diff");
  if (fs.existsSync(path.join(library, "package.json"))) {
    const lib = require(library);
    const version = JSON.parse(fs.readFileSync(path.join(library, "package.json"), "utf8")).version;
    return {
      name: `@aws-cdk/cloudformation-diff ${version}`,
      diff: (oldTemplate, newTemplate) => lib.fullDiff(oldTemplate, newTemplate),
      text: (diff) => {
        let buffer = "";
        lib.formatDifferences({ write: (chunk) => { buffer += chunk; return true; } }, diff, {}, 2);
        return buffer;
      },
    };
  }
  // Fallback: the same engine inside the CLI's bundle, through its public DiffFormatter.
  // (The package's "exports" map does not list its main module; its path is stable within a pin.)
  const cli = path.join(modules, "aws-cdk");
  const { DiffFormatter } = require(path.join(cli, "lib", "index.js"));
  const version = JSON.parse(fs.readFileSync(path.join(cli, "package.json"), "utf8")).version;
  let count = 0;
  const formatterFor = (oldTemplate, newTemplate) =>
    new DiffFormatter({
      templateInfo: { oldTemplate, newTemplate: { template: newTemplate, stackName: "stack", findMetadataByType: () => [] } },
    });
  return {
    name: `aws-cdk ${version} (bundled engine)`,
    diff: (oldTemplate, newTemplate) => formatterFor(oldTemplate, newTemplate).computeDiff(`s${count++}`, oldTemplate, newTemplate, undefined, {}),
    text: null,
    formatted: (oldTemplate, newTemplate) => formatterFor(oldTemplate, newTemplate).formatStackDiff({ contextLines: 2 }).formattedDiff,
  };
}

// A stack reads another's values through `Fn::GetStackOutput` (CDK's weak references): when
// the resource behind an output is replaced, every reader gets a new value at deploy time.
function withReplacedOutputs(template, env, replacedOutputs) {
  const swap = (value) => {
    if (Array.isArray(value)) return value.map(swap);
    if (value === null || typeof value !== "object") return value;
    const ref = value["Fn::GetStackOutput"];
    if (ref && typeof ref === "object" && Object.keys(value).length === 1) {
      const outputs = replacedOutputs.get(`${env}/${ref.StackName}`);
      if (outputs && outputs.has(ref.OutputName)) return `\${${ref.StackName}:${ref.OutputName}} ${MARK}`;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, swap(v)]));
  };
  const resources = {};
  for (const [id, body] of Object.entries(template.Resources || {})) {
    resources[id] = body && body.Properties ? { ...body, Properties: swap(body.Properties) } : body;
  }
  return { ...template, Resources: resources };
}

function outputsOf(template, replaced) {
  const names = new Set();
  for (const [name, output] of Object.entries(template.Outputs || {})) {
    const value = output && output.Value;
    if (JSON.stringify(substitute(value, replaced)) !== JSON.stringify(value)) names.add(name);
  }
  return names;
}

// One stack: the direct diff, then replacements followed through references within the stack.
function judgeStack(engine, oldTemplate, newTemplate) {
  let diff = engine.diff(oldTemplate, newTemplate);
  let replaced = replacedIds(diff);
  for (let round = 0; round < 10 && replaced.size > 0; round++) {
    const next = engine.diff(oldTemplate, withReplacedReferences(newTemplate, replaced));
    const grown = replacedIds(next);
    diff = next;
    if ([...grown].every((id) => replaced.has(id))) break;
    replaced = new Set([...replaced, ...grown]);
  }
  return { diff, replaced: replacedIds(diff) };
}

function main() {
  const job = JSON.parse(readStdin());
  const engine = loadEngine(job.node_modules);
  // Stacks are named "<env>/<stack name>"; outputs replaced so far, by "<env>/<stack name>".
  const replacedOutputs = new Map();
  let judged = new Map();
  for (let round = 0; round < 5; round++) {
    let grew = false;
    judged = new Map();
    for (const stack of job.stacks) {
      const [env, stackName] = [stack.name.split("/")[0], stack.name.slice(stack.name.indexOf("/") + 1)];
      const newTemplate = withReplacedOutputs(stack.new || {}, env, replacedOutputs);
      const result = judgeStack(engine, stack.old || {}, newTemplate);
      judged.set(stack.name, result);
      const outputs = outputsOf(stack.new || {}, result.replaced);
      const known = replacedOutputs.get(`${env}/${stackName}`) || new Set();
      if ([...outputs].some((name) => !known.has(name))) {
        replacedOutputs.set(`${env}/${stackName}`, new Set([...known, ...outputs]));
        grew = true;
      }
    }
    if (!grew) break;
  }
  const stacks = [];
  for (const stack of job.stacks) {
    const oldTemplate = stack.old || {};
    const directDiff = engine.diff(oldTemplate, stack.new || {});
    const direct = new Set();
    directDiff.resources.forEachDifference((id) => direct.add(id));
    const { diff } = judged.get(stack.name);
    const resources = [];
    diff.resources.forEachDifference((logicalId, change) => {
      const entry = resourceJson(logicalId, change);
      entry.through_references = !direct.has(logicalId);
      resources.push(entry);
    });
    // IAM and key-policy statements as `cdk diff` lists them (the direct diff).
    const iam = {
      statements: [
        ...directDiff.iamChanges.statements.additions.map((s) => statementJson(s, "+")),
        ...directDiff.iamChanges.statements.removals.map((s) => statementJson(s, "-")),
      ],
      managed_policies: [
        ...directDiff.iamChanges.managedPolicies.additions.map((p) => ({ change: "+", ...p._toJson() })),
        ...directDiff.iamChanges.managedPolicies.removals.map((p) => ({ change: "-", ...p._toJson() })),
      ],
    };
    let text = "";
    if (job.text && !directDiff.isEmpty) {
      // What `cdk diff --template` prints for the stack (the direct diff, as the CLI shows it).
      text = engine.text ? engine.text(directDiff) : engine.formatted(oldTemplate, stack.new || {});
    }
    stacks.push({ name: stack.name, empty: diff.isEmpty, resources, iam, text, marker: MARK });
  }
  process.stdout.write(JSON.stringify({ engine: engine.name, stacks }));
}

try {
  main();
} catch (error) {
  process.stderr.write(`diff engine: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
}
