// Validates rendered Kubernetes manifests offline (run by validate.sh).
//
//   node validate.js --node-modules DIR --alerts ALERTS_YML
//        [--expect-valid FILE]... [--expect-invalid FILE]...
//
// Every object of every FILE (multi-document YAML) is checked against the
// OpenAPI schemas of kubernetes-models (Kubernetes 1.33),
// @kubernetes-models/prometheus-operator and @kubernetes-models/cert-manager,
// with unknown fields rejected, then against arca's own policy (policy()),
// and each set's NetworkPolicies against README's caller table
// (networkErrors()).
// A --expect-valid file must give no error; a --expect-invalid file (one of
// broken/*.yaml) must give at least one error containing the text of its
// "# expect: TEXT" line. Exit 0 when every expectation holds, else 1; every
// error is printed with the object and the field it concerns.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

function parseArgs(argv) {
  const args = { valid: [], invalid: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--node-modules") args.nodeModules = value;
    else if (flag === "--alerts") args.alerts = value;
    else if (flag === "--expect-valid") args.valid.push(value);
    else if (flag === "--expect-invalid") args.invalid.push(value);
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!args.nodeModules || !args.alerts) throw new Error("--node-modules and --alerts are required");
  return args;
}

const args = parseArgs(process.argv.slice(2));
const req = createRequire(path.join(path.resolve(args.nodeModules), "resolver.js"));
const YAML = req("yaml");

// The model class of apiVersion/kind, or null when no package has a schema.
function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const candidates = [];
  if (group === "monitoring.coreos.com") {
    candidates.push(`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`);
  } else if (group.endsWith("cert-manager.io")) {
    candidates.push(`@kubernetes-models/cert-manager/${group}/${version}/${kind}`);
  } else {
    candidates.push(group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`);
  }
  for (const c of candidates) {
    try {
      return req(c)[kind];
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return null;
}

// Wraps `value` so that every property the schema validator reads is
// recorded. The generated validators read each property their schema
// declares and enumerate the keys of maps (additionalProperties), so a key of
// a read, never enumerated object that was never read is unknown to the
// schema. Objects the validator never looks into (free-form fields) are not
// judged.
function track(value, where, nodes) {
  if (value === null || typeof value !== "object") return value;
  const node = { where, value, read: new Set(), touched: false, enumerated: false, children: new Map() };
  nodes.push(node);
  const childPath = (k) => (Array.isArray(value) ? `${where}[${k}]` : `${where}.${k}`);
  return new Proxy(value, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return v;
      node.touched = true;
      node.read.add(key);
      if (v === null || typeof v !== "object" || !Object.prototype.hasOwnProperty.call(target, key)) return v;
      if (!node.children.has(key)) node.children.set(key, track(v, childPath(key), nodes));
      return node.children.get(key);
    },
    has(target, key) {
      if (typeof key === "string") {
        node.touched = true;
        node.read.add(key);
      }
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      if (typeof key === "string") node.read.add(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      node.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function schemaErrors(obj) {
  const Model = modelOf(obj.apiVersion || "", obj.kind || "");
  if (!Model) return [`no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`];
  const nodes = [];
  const errors = [];
  try {
    Model.prototype.validate.call(track(obj, "", nodes));
  } catch (e) {
    if (!e.errors) throw e;
    for (const err of e.errors) errors.push(`schema: ${err.instancePath || "/"} ${err.message}`);
  }
  for (const n of nodes) {
    if (Array.isArray(n.value) || !n.touched || n.enumerated) continue;
    for (const key of Object.keys(n.value)) {
      if (!n.read.has(key)) errors.push(`schema: unknown field ${n.where}.${key}`.replace(" .", " "));
    }
  }
  return errors;
}

// arca's own rules for every pod template (docs/operations.md).
function podSpecOf(obj) {
  switch (obj.kind) {
    case "Deployment":
    case "DaemonSet":
    case "StatefulSet":
    case "Job":
      return obj.spec && obj.spec.template && obj.spec.template.spec;
    case "CronJob":
      return obj.spec && obj.spec.jobTemplate && obj.spec.jobTemplate.spec.template && obj.spec.jobTemplate.spec.template.spec;
    case "Pod":
      return obj.spec;
    default:
      return null;
  }
}

function flagValue(args, name) {
  const prefix = `--${name}=`;
  const a = (args || []).find((x) => x.startsWith(prefix));
  return a === undefined ? undefined : a.slice(prefix.length);
}

function policy(obj) {
  const spec = podSpecOf(obj);
  if (!spec) return [];
  const errors = [];
  const long = ["Deployment", "DaemonSet", "StatefulSet"].includes(obj.kind);
  const isCollector = obj.kind === "DaemonSet" && (spec.containers || []).some((c) => /\/collector$/.test((c.command || [])[0] || ""));
  const podSc = spec.securityContext || {};
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    const at = `container ${c.name}`;
    const sc = c.securityContext || {};
    const r = c.resources || {};
    for (const kind of ["requests", "limits"]) {
      for (const res of ["cpu", "memory"]) {
        if (!r[kind] || r[kind][res] === undefined) errors.push(`policy: ${at} has no resources.${kind}.${res}`);
      }
    }
    if (!c.image || /:latest$/.test(c.image) || !/:[^/]+$/.test(c.image)) {
      errors.push(`policy: ${at} image ${c.image} must have a fixed tag, not latest or none`);
    }
    if (c.imagePullPolicy !== "IfNotPresent") errors.push(`policy: ${at} imagePullPolicy must be IfNotPresent`);
    if (sc.readOnlyRootFilesystem !== true) errors.push(`policy: ${at} needs securityContext.readOnlyRootFilesystem: true`);
    if (sc.allowPrivilegeEscalation !== false) errors.push(`policy: ${at} needs securityContext.allowPrivilegeEscalation: false`);
    if (sc.privileged) errors.push(`policy: ${at} must not be privileged`);
    const drop = (sc.capabilities && sc.capabilities.drop) || [];
    if (!drop.includes("ALL")) errors.push(`policy: ${at} must drop ALL capabilities`);
    const user = sc.runAsUser !== undefined ? sc.runAsUser : podSc.runAsUser;
    const nonRoot = sc.runAsNonRoot !== undefined ? sc.runAsNonRoot : podSc.runAsNonRoot;
    if (!isCollector && (nonRoot !== true || user === 0 || user === undefined)) {
      errors.push(`policy: ${at} must run as a non-root user (runAsNonRoot: true, runAsUser != 0); only the collector runs as root`);
    }
    if (isCollector) {
      const allowed = ["DAC_READ_SEARCH", "DAC_OVERRIDE", "CHOWN", "FOWNER", "FSETID", "MKNOD"];
      for (const cap of (sc.capabilities && sc.capabilities.add) || []) {
        if (!allowed.includes(cap)) errors.push(`policy: ${at} adds capability ${cap} (allowed: ${allowed.join(", ")})`);
      }
    }
    if (long) {
      for (const p of ["readinessProbe", "livenessProbe"]) {
        if (!c[p] || !c[p].grpc) errors.push(`policy: ${at} has no gRPC ${p} (on its --health-listen port)`);
      }
      const drain = Number(flagValue(c.args, "drain-seconds") || 10);
      const grace = spec.terminationGracePeriodSeconds === undefined ? 30 : spec.terminationGracePeriodSeconds;
      if (grace < drain || grace > drain + 30) {
        errors.push(`policy: ${at} terminationGracePeriodSeconds ${grace} does not match --drain-seconds ${drain} (want ${drain}..${drain + 30})`);
      }
    }
  }
  return errors;
}

function sameAlerts(obj, alerts) {
  if (obj.kind !== "PrometheusRule") return [];
  const canonical = (v) =>
    Array.isArray(v) ? v.map(canonical)
      : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]))
      : v;
  if (JSON.stringify(canonical(obj.spec)) === JSON.stringify(canonical(alerts))) return [];
  return ["PrometheusRule spec differs from deploy/prometheus/alerts.yml: regenerate it"];
}

// README "Security model": the roles that may call each role's gRPC port
// ("*": anyone, from any namespace). Checked on every rendered set that has
// NetworkPolicies: a port must be open to exactly these pods.
const kCallers = {
  orchestrator: "*",
  collector: ["chunker", "orchestrator"],
  chunker: ["orchestrator"],
  compressor: ["chunker"],
  uploader: ["chunker", "collector", "orchestrator"],
};

function networkErrors(objs) {
  const policies = objs.filter((o) => o.kind === "NetworkPolicy");
  if (!policies.length) return [];
  const errors = [];
  const component = (sel) => sel && sel.matchLabels && sel.matchLabels["app.kubernetes.io/component"];
  if (!policies.some((p) => !component(p.spec.podSelector) && (p.spec.policyTypes || []).includes("Ingress") && !(p.spec.ingress || []).length)) {
    errors.push("network: no default-deny ingress NetworkPolicy");
  }
  for (const [role, want] of Object.entries(kCallers)) {
    const svc = objs.find((o) => o.kind === "Service" && (o.spec.selector || {})["app.kubernetes.io/component"] === role);
    const port = svc && (svc.spec.ports.find((p) => p.name === "grpc") || {}).port;
    if (!port) {
      errors.push(`network: no Service with a grpc port for ${role}`);
      continue;
    }
    const from = new Set();
    for (const p of policies) {
      const podRole = component(p.spec.podSelector);
      if (podRole !== undefined && podRole !== role) continue;
      for (const rule of p.spec.ingress || []) {
        if (rule.ports && !rule.ports.some((x) => x.port === port)) continue;
        if (!rule.from || !rule.from.length) from.add("*");
        for (const peer of rule.from || []) {
          if (peer.namespaceSelector || peer.ipBlock || !component(peer.podSelector)) from.add("*");
          else from.add(component(peer.podSelector));
        }
      }
    }
    const got = [...from].sort().join(",");
    const expected = want === "*" ? "*" : [...want].sort().join(",");
    if (got !== expected) errors.push(`network: ${role} port ${port} is open to ${got || "nobody"}, README allows ${expected}`);
  }
  return errors;
}

function loadDocs(file) {
  return YAML.parseAllDocuments(fs.readFileSync(file, "utf8")).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    return d.toJS();
  }).filter((o) => o !== null && o !== undefined);
}

function check(obj, alerts) {
  return [...schemaErrors(obj), ...policy(obj), ...sameAlerts(obj, alerts)];
}

const alerts = YAML.parse(fs.readFileSync(args.alerts, "utf8"));
let failed = false;
for (const file of args.valid) {
  const kinds = {};
  const objs = loadDocs(file);
  for (const e of networkErrors(objs)) {
    failed = true;
    console.log(`FAIL ${path.basename(file)}: ${e}`);
  }
  for (const obj of objs) {
    const name = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
    kinds[obj.kind] = (kinds[obj.kind] || 0) + 1;
    for (const e of check(obj, alerts)) {
      failed = true;
      console.log(`FAIL ${path.basename(file)} ${name}: ${e}`);
    }
  }
  const total = Object.values(kinds).reduce((a, b) => a + b, 0);
  console.log(`${path.basename(file)}: ${total} objects (${Object.entries(kinds).sort().map(([k, n]) => `${n} ${k}`).join(", ")})`);
}
for (const file of args.invalid) {
  const expect = (fs.readFileSync(file, "utf8").match(/^# expect: (.*)$/m) || [])[1];
  if (!expect) {
    failed = true;
    console.log(`FAIL ${file}: no "# expect: TEXT" line`);
    continue;
  }
  const objs = loadDocs(file);
  const errors = [
    ...objs.flatMap((o) => check(o, alerts).map((e) => `${o.kind}/${o.metadata && o.metadata.name}: ${e}`)),
    ...networkErrors(objs),
  ];
  const hit = errors.find((e) => e.includes(expect));
  if (hit) {
    console.log(`rejected ${path.basename(file)}: ${hit}`);
  } else {
    failed = true;
    console.log(`FAIL ${path.basename(file)} was not rejected for "${expect}"; errors: ${errors.join("; ") || "none"}`);
  }
}
process.exit(failed ? 1 : 0);
