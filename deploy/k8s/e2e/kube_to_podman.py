#!/usr/bin/python3
"""Converts rendered arca manifests (kubectl kustomize) for podman 4.3 `kube play`.

podman 4.3 plays Deployments, ConfigMaps, hostPath and PersistentVolumeClaims
(as named volumes), but rejects DaemonSets, ignores Services, publishes every
containerPort on the host and mishandles Secrets (issue 15). So:

  DaemonSet             -> Deployment with one replica (one node)
  Secret volume         -> ConfigMap volume of the same name; the ConfigMaps
                           are generated here from --certs (make_certs.sh)
                           and --token, named as docs/operations.md names the
                           Secrets (arca-ROLE-tls, arca-auth-token)
  containerPort         -> removed (nothing is published on the host)
  emptyDir              -> renamed WORKLOAD-NAME (podman 4.3 makes it a named
                           volume; unrenamed, every pod's "tmp" is one volume)
  Service               -> network aliases NAME and NAME.NAMESPACE.svc on the
                           pods its selector matches (written to plays.tsv;
                           the driver passes --network NET:alias=...)
  hostPath              -> --host-path NAME=DIR (the collector's node paths
                           become test directories)
  PersistentVolumeClaim -> volumes.yaml, played first (named volumes)
  CronJob               -> its container's command and args in JSON
                           (cronjob-NAME.json), run by the driver with podman run
  Namespace, ServiceAccount, NetworkPolicy, prometheus-operator objects:
                           skipped (podman has no equivalent; listed on stderr)

Output in --out: volumes.yaml, pod-NAME.yaml (one workload per file with the
ConfigMaps it mounts, so each pod gets its own aliases) and plays.tsv:
"FILE<TAB>ALIASES".
Uses only /usr/bin/python3 with Debian's python3-yaml.
"""
import argparse
import json
import os
import sys

import yaml

ROLES = ("collector", "chunker", "compressor", "uploader", "orchestrator", "client")
SKIPPED_KINDS = {"Namespace", "ServiceAccount", "NetworkPolicy", "PodMonitor",
                 "ServiceMonitor", "PrometheusRule"}


def read(path):
    with open(path) as f:
        return f.read()


def secret_configmaps(certs, token_file, namespace):
    """The Secrets an operator creates (docs/operations.md), as ConfigMaps."""
    maps = []
    for role in ROLES:
        maps.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"arca-{role}-tls", "namespace": namespace},
            "data": {"tls.crt": read(f"{certs}/{role}.pem"),
                     "tls.key": read(f"{certs}/{role}.key"),
                     "ca.crt": read(f"{certs}/ca.pem")},
        })
    maps.append({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "arca-auth-token", "namespace": namespace},
        "data": {"token": read(token_file)},
    })
    return maps


def convert_pod_spec(spec, host_paths, kind, name):
    # podman 4.3 makes an emptyDir a named volume called like the pod's
    # volume, so every pod's "tmp" would be one shared directory: prefix it.
    renamed = {}
    for v in spec.get("volumes", []):
        if "emptyDir" in v:
            renamed[v["name"]] = v["name"] = f"{name}-{v['name']}"
    for c in spec.get("containers", []):
        c.pop("ports", None)
        for m in c.get("volumeMounts", []):
            m["name"] = renamed.get(m["name"], m["name"])
    for v in spec.get("volumes", []):
        if "secret" in v:
            s = v.pop("secret")
            v["configMap"] = {"name": s["secretName"]}
            if "defaultMode" in s:
                v["configMap"]["defaultMode"] = s["defaultMode"]
        if "hostPath" in v:
            if v["name"] not in host_paths:
                sys.exit(f"{kind}/{name}: hostPath volume {v['name']} has no --host-path")
            v["hostPath"]["path"] = host_paths[v["name"]]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("rendered", help="output of kubectl kustomize")
    p.add_argument("--certs", required=True, help="make_certs.sh directory")
    p.add_argument("--token", required=True, help="file with the API token")
    p.add_argument("--host-path", action="append", default=[], metavar="VOLUME=DIR")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    host_paths = dict(hp.split("=", 1) for hp in a.host_path)

    with open(a.rendered) as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    workloads, services, pvcs, configmaps = [], [], [], []
    namespace = "default"
    for o in objects:
        kind, name = o["kind"], o["metadata"]["name"]
        namespace = o["metadata"].get("namespace", namespace)
        if kind in ("Deployment", "DaemonSet"):
            workloads.append(o)
        elif kind == "Service":
            services.append(o)
        elif kind == "PersistentVolumeClaim":
            pvcs.append(o)
        elif kind == "ConfigMap":
            configmaps.append(o)
        elif kind == "CronJob":
            c = o["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
            with open(os.path.join(a.out, f"cronjob-{name}.json"), "w") as f:
                json.dump({"image": c["image"], "command": c.get("command", []),
                           "args": c.get("args", [])}, f)
        elif kind in SKIPPED_KINDS:
            print(f"skipped {kind}/{name} (no podman equivalent)", file=sys.stderr)
        else:
            sys.exit(f"{kind}/{name}: kind not handled by the converter")

    configmaps += secret_configmaps(a.certs, a.token, namespace)
    configmaps = {m["metadata"]["name"]: m for m in configmaps}
    with open(os.path.join(a.out, "volumes.yaml"), "w") as f:
        yaml.safe_dump_all(pvcs, f)

    plays = []
    for w in workloads:
        name = w["metadata"]["name"]
        if w["kind"] == "DaemonSet":
            w["kind"] = "Deployment"
            w["spec"].pop("updateStrategy", None)
            w["spec"]["replicas"] = 1
        template = w["spec"]["template"]
        convert_pod_spec(template["spec"], host_paths, w["kind"], name)
        labels = template["metadata"].get("labels", {})
        aliases = []
        for s in services:
            if matches(s["spec"].get("selector"), labels):
                sname = s["metadata"]["name"]
                aliases += [sname, f"{sname}.{namespace}.svc"]
        if not aliases:
            sys.exit(f"{w['kind']}/{name}: no Service selects it")
        # podman 4.3 finds a pod's ConfigMaps in the played file itself
        # (--configmap FILE reads only the file's first object).
        used = [v["configMap"]["name"] for v in template["spec"].get("volumes", [])
                if "configMap" in v]
        path = f"pod-{name}.yaml"
        with open(os.path.join(a.out, path), "w") as f:
            yaml.safe_dump_all([configmaps[n] for n in used] + [w], f)
        plays.append(f"{path}\t{','.join(aliases)}")
    with open(os.path.join(a.out, "plays.tsv"), "w") as f:
        f.write("\n".join(plays) + "\n")


if __name__ == "__main__":
    main()
