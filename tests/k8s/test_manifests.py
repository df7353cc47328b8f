"""The Kubernetes manifests (deploy/k8s), validated offline: no cluster, no network.

Both overlays are rendered with kustomize and checked by kubeconform `-strict` against the
schemas `deploy/k8s/tools` converted from the Kubernetes OpenAPI and KEDA's CRDs (Go modules)
and the committed Strimzi ones; then the platform's own rules: probes, resources and
non-root security contexts on every Deployment (no service-account token, no added
capability); a Service, a PodDisruptionBudget and a NetworkPolicy for each; default deny on
every pod (Strimzi's and the servers' included, each with what it needs); no allow-all rule,
no namespace but DNS's, the ingress controller's and KEDA's operator, no address block over a
private range; each policy's ports are the ports of what it names; who reaches each server;
the rendered Kafka (one TLS + SCRAM listener, grants all literal and exactly acls()); KEDA's
maxReplicaCount at most the partitions of the topic it scales on, the topic and group being
the registry's; no secret value in the production render, no user:password@ anywhere. Each
rule is also fed a broken manifest, to show it fails.

Tools: `deploy/k8s/tools` (run by deploy/local/install). Missing tools fail the test (say
what to run), they do not skip it.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dinamis_shared import strimzi
from dinamis_shared.acls import Operation, Resource, acls
from dinamis_shared.topics import CONSUMES, topic_for

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
SERVICES = ("ingest", "catalog", "catalog-tiles", "orders", "delivery", "notify", "portal", "reporting")
DEV_ONLY = ("supplier-sim",)
Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    out = subprocess.run([str(K8S / "tools"), "env"], capture_output=True, text=True, check=True).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    missing = [env[k] for k in ("KUSTOMIZE", "KUBECONFORM") if not Path(env[k]).is_file()]
    missing += [env[k] for k in ("K8S_SCHEMAS", "STRIMZI_SCHEMAS") if not Path(env[k]).is_dir()]
    if missing:
        pytest.fail(f"missing {missing}: run deploy/k8s/tools (or deploy/local/install) once, with network")
    return env


@pytest.fixture(scope="module")
def rendered(tools: dict[str, str]) -> dict[str, str]:
    out = {}
    for overlay in OVERLAYS:
        r = subprocess.run(
            [tools["KUSTOMIZE"], "build", str(K8S / "overlays" / overlay)], capture_output=True, text=True
        )
        assert r.returncode == 0, f"kustomize build {overlay}: {r.stderr}"
        out[overlay] = r.stdout
    return out


@pytest.fixture(scope="module")
def docs(rendered: dict[str, str]) -> dict[str, Docs]:
    return {k: [d for d in yaml.safe_load_all(v) if d] for k, v in rendered.items()}


def kubeconform(tools: dict[str, str], manifests: str) -> subprocess.CompletedProcess[str]:
    template = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
    return subprocess.run(
        [
            tools["KUBECONFORM"],
            "-strict",
            "-summary",
            "-schema-location",
            f"{tools['K8S_SCHEMAS']}/{template}",
            "-schema-location",
            f"{tools['STRIMZI_SCHEMAS']}/{template}",
            "-",
        ],
        input=manifests,
        capture_output=True,
        text=True,
    )


# --- the rules (each returns the problems it finds) ----------------------------------------


def of_kind(docs: Docs, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _selects(selector: dict[str, Any], labels: dict[str, str], *, empty: bool = False) -> bool:
    """A label selector (matchLabels, matchExpressions) applied to `labels`; an empty selector
    selects everything only when `empty` (a policy's podSelector), never for a PDB's."""
    match, expressions = selector.get("matchLabels", {}), selector.get("matchExpressions", [])
    if not match and not expressions:
        return empty
    ok = all(labels.get(k) == v for k, v in match.items())
    for e in expressions:
        key, op, values = e["key"], e["operator"], e.get("values", [])
        ok = (
            ok
            and {
                "In": key in labels and labels[key] in values,
                "NotIn": key not in labels or labels[key] not in values,
                "Exists": key in labels,
                "DoesNotExist": key not in labels,
            }[op]
        )
    return ok


def check_deployments(docs: Docs) -> list[str]:
    """Probes (liveness /healthz, readiness /readyz), requests and limits, non-root, no
    privilege escalation, no capability, RuntimeDefault seccomp, read-only root with a
    writable /tmp, anti-affinity across nodes."""
    problems = []
    for name, dep in of_kind(docs, "Deployment").items():
        pod = dep["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: automountServiceAccountToken (no service needs the API)")
        if psc.get("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccomp RuntimeDefault")
        terms = pod.get("affinity", {}).get("podAntiAffinity", {})
        node_terms = [
            t.get("podAffinityTerm", t)
            for key in (
                "preferredDuringSchedulingIgnoredDuringExecution",
                "requiredDuringSchedulingIgnoredDuringExecution",
            )
            for t in terms.get(key, [])
        ]
        if not any(
            t.get("topologyKey") == "kubernetes.io/hostname"
            and _selects(t.get("labelSelector", {}), dep["spec"]["template"]["metadata"]["labels"])
            for t in node_terms
        ):
            problems.append(f"{name}: pod anti-affinity across nodes")
        emptydirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod.get("initContainers", []) + pod["containers"]:
            cname = f"{name}/{c['name']}"
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cname}: allowPrivilegeEscalation")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{cname}: capabilities drop ALL")
            if sc.get("capabilities", {}).get("add"):
                problems.append(f"{cname}: capabilities add {sc['capabilities']['add']}")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cname}: readOnlyRootFilesystem")
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(part, {})):
                    problems.append(f"{cname}: resources.{part} cpu and memory")
        for c in pod["containers"]:
            cname = f"{name}/{c['name']}"
            probes = {
                p: c.get(p, {}).get("httpGet", {}).get("path") for p in ("livenessProbe", "readinessProbe")
            }
            if probes != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
                problems.append(f"{cname}: probes {probes}")
            if not any(
                m["mountPath"] == "/tmp" and m["name"] in emptydirs for m in c.get("volumeMounts", [])
            ):
                problems.append(f"{cname}: /tmp on an emptyDir")
    return problems


# The servers the manifests expect in the namespace (deployed by the operator of the cluster,
# labelled app.kubernetes.io/name=<server>) and their ports; Strimzi's pods (labels Strimzi
# puts on the brokers/controllers and on the entity operator).
SERVERS = {
    "seaweedfs": 8333,
    "postgres": 5432,
    "ferretdb": 27017,
    "ferretdb-postgres": 5432,
    "smtp": 25,
    "keycloak": 8080,
}
BROKER = {
    "strimzi.io/cluster": "dinamis",
    "strimzi.io/kind": "Kafka",
    "strimzi.io/broker-role": "true",
    "strimzi.io/controller-role": "true",
}
ENTITY_OPERATOR = {
    "strimzi.io/cluster": "dinamis",
    "strimzi.io/kind": "Kafka",
    "strimzi.io/name": "dinamis-entity-operator",
}


def check_coverage(docs: Docs) -> list[str]:
    """Every Deployment has a Service, a PodDisruptionBudget and a NetworkPolicy of its own,
    and a default-deny policy (no rule, both directions) covers its pods; it covers Strimzi's
    pods and the servers' too, each of which has a policy of its own."""
    problems = []
    pdbs, policies = of_kind(docs, "PodDisruptionBudget"), of_kind(docs, "NetworkPolicy")
    services = of_kind(docs, "Service")
    deny = [
        p
        for p in policies.values()
        if set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    for name, dep in of_kind(docs, "Deployment").items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        if not any(_selects(p["spec"]["podSelector"], labels, empty=True) for p in deny):
            problems.append(f"{name}: no default-deny NetworkPolicy covers it")
        if not any(_selects(p["spec"]["selector"], labels) for p in pdbs.values()):
            problems.append(f"{name}: no PodDisruptionBudget")
        if not any(_selects(p["spec"]["podSelector"], labels) for p in policies.values() if p not in deny):
            problems.append(f"{name}: no NetworkPolicy")
        if not any(
            _selects({"matchLabels": s["spec"].get("selector", {})}, labels) for s in services.values()
        ):
            problems.append(f"{name}: no Service")
    others = {"strimzi broker": BROKER, "strimzi entity operator": ENTITY_OPERATOR}
    others |= {f"server {s}": {"app.kubernetes.io/name": s} for s in SERVERS}
    for name, labels in others.items():
        if not any(_selects(p["spec"]["podSelector"], labels, empty=True) for p in deny):
            problems.append(f"{name}: no default-deny NetworkPolicy covers it")
        if not any(_selects(p["spec"]["podSelector"], labels) for p in policies.values() if p not in deny):
            problems.append(f"{name}: no NetworkPolicy")
    return problems


def _ports(dep: dict[str, Any]) -> set[int]:
    return {
        p["containerPort"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
    }


# The namespaces a peer may name, and the pods it must then select: DNS in kube-system, the
# ingress controller (any of its pods), the KEDA operator only in keda.
NAMESPACES: dict[str, dict[str, str] | None] = {
    "kube-system": {"k8s-app": "kube-dns"},
    "ingress-nginx": None,
    "keda": {"app.kubernetes.io/name": "keda-operator"},
}
# The cluster's DNS, the one peer in kube-system.
DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
# What an address block that covers them must leave out: private, link-local (the cloud
# metadata), shared (CGNAT) and loopback ranges.
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8")


def _peer_problems(where: str, peer: dict[str, Any]) -> list[str]:
    """A peer (of a policy rule or of a Kafka listener): a namespace only among NAMESPACES
    (with its pods), never every pod of the namespace, an address block that leaves out
    every private range it covers."""
    problems = []
    if "namespaceSelector" in peer:
        ns = peer["namespaceSelector"]
        name = ns.get("matchLabels", {}).get("kubernetes.io/metadata.name")
        if ns != {"matchLabels": {"kubernetes.io/metadata.name": name}} or name not in NAMESPACES:
            problems.append(f"{where}: namespaceSelector {ns} is none of {sorted(NAMESPACES)}")
        elif (
            NAMESPACES[name] is not None
            and peer.get("podSelector", {}).get("matchLabels") != NAMESPACES[name]
        ):
            problems.append(f"{where}: namespace {name} without podSelector {NAMESPACES[name]}")
    elif "podSelector" in peer and not (
        peer["podSelector"].get("matchLabels") or peer["podSelector"].get("matchExpressions")
    ):
        problems.append(f"{where}: an empty podSelector (every pod of the namespace)")
    if "ipBlock" in peer:
        block = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        left_out = set(peer["ipBlock"].get("except", []))
        missing = [
            p
            for p in PRIVATE
            if ipaddress.ip_network(p).version == block.version
            and ipaddress.ip_network(p).subnet_of(block)  # type: ignore[arg-type]
            and p not in left_out
        ]
        if block.version == 6 or missing:
            problems.append(f"{where}: ipBlock {block} does not leave out {missing or 'IPv6 private ranges'}")
    return problems


def check_network(docs: Docs) -> list[str]:
    """Every policy: no rule without a peer (allow-all), no namespace but the known ones, no
    address block over a private range. Each service's policy: DNS out; its ingress only on
    its own port; its egress to another service or a server only on that one's port (a wrong
    port is a silent outage, a missing one a hole)."""
    problems = []
    deployments = of_kind(docs, "Deployment")
    by_label = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in deployments.values()
    }
    for name, pol in of_kind(docs, "NetworkPolicy").items():
        spec = pol["spec"]
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(spec.get(direction, [])):
                if not rule.get(peers):
                    problems.append(f"{name}: {direction} rule {i} without `{peers}` (allows all)")
                for peer in rule.get(peers, []):
                    problems += _peer_problems(f"{name}: {direction} rule {i}", peer)
                    ports = {p["port"] for p in rule.get("ports", [])}
                    if peer == DNS_PEER and ports != {53}:
                        problems.append(f"{name}: {direction} rule {i} to DNS on {ports or 'any port'}")
        target = spec["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        if target in SERVERS:
            for rule in spec.get("ingress", []):
                if {p["port"] for p in rule.get("ports", [])} != {SERVERS[target]}:
                    problems.append(f"{name}: ingress to {target} not only on {SERVERS[target]}")
        if target not in by_label:
            continue
        if name == target and not any(
            {"port": 53, "protocol": "UDP"} in rule.get("ports", []) for rule in spec.get("egress", [])
        ):
            problems.append(f"{name}: no DNS egress")
        for rule in spec.get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if not ports or not ports <= _ports(by_label[target]):
                problems.append(
                    f"{name}: ingress on {ports or 'any port'}, the pod listens on {_ports(by_label[target])}"
                )
        for rule in spec.get("egress", []):
            for peer in rule.get("to", []):
                other = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                ports = {p["port"] for p in rule.get("ports", [])}
                if other in by_label and (not ports or not ports <= _ports(by_label[other])):
                    problems.append(f"{name}: egress to {other} on {ports or 'any port'}")
                if other in SERVERS and ports != {SERVERS[other]}:
                    problems.append(f"{name}: egress to {other} on {ports or 'any port'}")
                if "strimzi.io/cluster" in peer.get("podSelector", {}).get("matchLabels", {}) and ports != {
                    9093
                }:
                    problems.append(
                        f"{name}: egress to the brokers on {ports or 'any port'}, not the listener"
                    )
    return problems


def _allowed(
    docs: Docs, labels: dict[str, str], direction: str, *, any_pod: bool = False
) -> set[tuple[str, int]]:
    """What the policies selecting a pod with `labels` let in or out: (peer, port), the peer
    being `dns`, `strimzi` (the cluster's pods), `kafka-client`, `keda-operator`, an
    `app.kubernetes.io/name` or `ipBlock`."""
    out = set()
    for pol in of_kind(docs, "NetworkPolicy").values():
        if not any_pod and not _selects(pol["spec"]["podSelector"], labels, empty=True):
            continue
        for rule in pol["spec"].get(direction, []):
            for peer in rule.get("from" if direction == "ingress" else "to", []):
                match = peer.get("podSelector", {}).get("matchLabels", {})
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                kind = (
                    "ingress-nginx"
                    if namespace.get("kubernetes.io/metadata.name") == "ingress-nginx"
                    else "dns"
                    if peer == DNS_PEER
                    else "keda-operator"
                    if match == NAMESPACES["keda"]
                    else "strimzi"
                    if match == {"strimzi.io/cluster": "dinamis"}
                    else "strimzi-broker"
                    if match == {"strimzi.io/cluster": "dinamis", "strimzi.io/broker-role": "true"}
                    else "kafka-client"
                    if match.get("dinamis.fr/kafka-client") == "true"
                    else "ipBlock"
                    if "ipBlock" in peer
                    else match.get("app.kubernetes.io/name", f"unexpected {peer}")
                )
                out |= {(kind, p["port"]) for p in rule.get("ports", [])}
    return out


# What Strimzi's pods need once default deny covers them (Strimzi 1.2: 9090 the KRaft
# controllers, 9091 replication and the operators' own connections, 9093 our TLS listener,
# the entity operator watches KafkaTopic/KafkaUser through the API server, 443 or 6443).
STRIMZI_NEEDS = {
    "broker egress": {("dns", 53), ("strimzi", 9090), ("strimzi", 9091)},
    "broker ingress": {("strimzi", 9090), ("strimzi", 9091), ("kafka-client", 9093), ("keda-operator", 9093)},
    "entity operator egress": {
        ("dns", 53),
        ("strimzi", 9090),
        ("strimzi", 9091),
        ("ipBlock", 443),
        ("ipBlock", 6443),
    },
}


def check_strimzi_network(docs: Docs) -> list[str]:
    problems = []
    for what, labels, direction in (
        ("broker egress", BROKER, "egress"),
        ("broker ingress", BROKER, "ingress"),
        ("entity operator egress", ENTITY_OPERATOR, "egress"),
    ):
        allowed = _allowed(docs, labels, direction)
        if allowed != STRIMZI_NEEDS[what]:
            problems.append(
                f"strimzi {what}: missing {sorted(STRIMZI_NEEDS[what] - allowed)}, "
                f"extra {sorted(allowed - STRIMZI_NEEDS[what])}"
            )
    return problems


_OPERATION = {Operation.READ: "Read", Operation.WRITE: "Write", Operation.DESCRIBE: "Describe"}
_RESOURCE = {Resource.TOPIC: "topic", Resource.GROUP: "group"}


def check_kafka(docs: Docs, *, development: bool = False) -> list[str]:
    """The rendered Kafka: one listener, TLS with SCRAM-SHA-512, peers among the known ones;
    every KafkaUser grant `literal` and the grants exactly `acls.acls()` (plus KEDA's
    DESCRIBE), so a patch in an overlay cannot widen them."""
    problems = []
    kafkas = list(of_kind(docs, "Kafka").values())
    if len(kafkas) != 1:
        return [f"{len(kafkas)} Kafka resources, one expected"]
    listeners = kafkas[0]["spec"]["kafka"].get("listeners", [])
    if len(listeners) != 1:
        problems.append(f"{len(listeners)} listeners, one expected")
    for lis in listeners:
        if lis.get("tls") is not True or lis.get("authentication", {}).get("type") != "scram-sha-512":
            problems.append(f"listener {lis['name']}: not tls + scram-sha-512")
        if not lis.get("networkPolicyPeers"):
            problems.append(f"listener {lis['name']}: no networkPolicyPeers (every pod may connect)")
        for peer in lis.get("networkPolicyPeers", []):
            problems += _peer_problems(f"listener {lis['name']}", peer)
    if kafkas[0]["spec"]["kafka"].get("authorization") != {"type": "simple"}:
        problems.append("authorization is not `simple` without super users")
    granted = set()
    for user, ku in of_kind(docs, "KafkaUser").items():
        if ku["spec"]["authentication"]["type"] != "scram-sha-512":
            problems.append(f"KafkaUser {user}: not scram-sha-512")
        for entry in ku["spec"].get("authorization", {}).get("acls", []):
            res = entry["resource"]
            if res.get("patternType") != "literal" or entry.get("type", "allow") != "allow":
                problems.append(f"KafkaUser {user}: {res} is not a literal allow")
            granted |= {(user, op, res["type"], res["name"]) for op in entry["operations"]}
    expected = {
        (a.principal, _OPERATION[a.operation], _RESOURCE[a.resource], a.name)
        for a in [*acls(development=development), *strimzi.keda_acls()]
    }
    problems += [f"grant not in acls(): {g}" for g in sorted(granted - expected)]
    problems += [f"grant of acls() missing: {g}" for g in sorted(expected - granted)]
    return problems


def check_autoscaling(docs: Docs) -> list[str]:
    """KEDA on consumer lag for delivery and ingest (the registry's group and topic, the
    topic's partitions >= maxReplicaCount, minReplicaCount >= 1, an existing
    TriggerAuthentication); HPA on CPU for catalog, catalog-tiles and portal."""
    problems = []
    topics = {t["spec"].get("topicName", n): t for n, t in of_kind(docs, "KafkaTopic").items()}
    auths = of_kind(docs, "TriggerAuthentication")
    scaled = of_kind(docs, "ScaledObject")
    for name, so in scaled.items():
        spec = so["spec"]
        if spec.get("minReplicaCount", 0) < 1:
            problems.append(f"{name}: minReplicaCount < 1 (it answers HTTP too)")
        for trigger in spec["triggers"]:
            if trigger["type"] != "kafka":
                continue
            meta = trigger["metadata"]
            group, topic = meta.get("consumerGroup"), meta.get("topic")
            if not str(meta.get("lagThreshold", "")).isdigit() or int(meta["lagThreshold"]) < 1:
                problems.append(
                    f"{name}: lagThreshold {meta.get('lagThreshold')!r} is not a positive integer"
                )
            consumed = {topic_for(m).name for m in CONSUMES.get(group or "", ())}
            if topic not in consumed:
                problems.append(f"{name}: group {group} does not consume {topic}")
            if topic not in topics:
                problems.append(f"{name}: no KafkaTopic {topic}")
            elif spec.get("maxReplicaCount", 100) > topics[topic]["spec"]["partitions"]:
                problems.append(
                    f"{name}: maxReplicaCount {spec.get('maxReplicaCount', 100)} > "
                    f"{topics[topic]['spec']['partitions']} partitions of {topic}"
                )
            if trigger.get("authenticationRef", {}).get("name") not in auths:
                problems.append(f"{name}: TriggerAuthentication missing")
    for wanted in ("delivery", "ingest"):
        if not any(s["spec"]["scaleTargetRef"]["name"] == wanted for s in scaled.values()):
            problems.append(f"{wanted}: no ScaledObject")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler").values()}
    for wanted in ("catalog", "catalog-tiles", "portal"):
        metrics = hpas.get(wanted, {}).get("spec", {}).get("metrics", [])
        if not any(m.get("resource", {}).get("name") == "cpu" for m in metrics):
            problems.append(f"{wanted}: no HPA on CPU")
    for name, dep in of_kind(docs, "Deployment").items():
        if name in hpas or any(s["spec"]["scaleTargetRef"]["name"] == name for s in scaled.values()):
            if "replicas" in dep["spec"]:
                problems.append(f"{name}: replicas set although an autoscaler owns it")
    return problems


SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|DSN|MONGO_URL|_TOKEN$")
# user:password@ in a URL, whatever the variable's name
CREDENTIAL = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)


def check_no_secret_values(docs: Docs, text: str) -> list[str]:
    """No Secret object, no secret-looking variable with a literal value, in ConfigMaps or
    containers, and none of the development values (`dinamis-dev`) anywhere."""
    problems = [f"Secret {d['metadata']['name']} in the render" for d in docs if d["kind"] == "Secret"]
    for name, cm in of_kind(docs, "ConfigMap").items():
        problems += [
            f"ConfigMap {name}: {k}"
            for k, v in cm.get("data", {}).items()
            # an address without credentials (no user:password@) is no secret
            if (SECRET_NAME.search(k) and not (("DSN" in k or k.endswith("_URL")) and "@" not in v))
            or CREDENTIAL.search(v)
        ]
    for name, dep in of_kind(docs, "Deployment").items():
        pod = dep["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            problems += [
                f"{name}/{c['name']}: {e['name']} has a literal value"
                for e in c.get("env", [])
                # "none": the S3 key of a service that has none (services/orders.yaml)
                if "value" in e
                and (
                    (SECRET_NAME.search(e["name"]) and e["value"] != "none") or CREDENTIAL.search(e["value"])
                )
            ]
    if "dinamis-dev" in text:
        problems.append("a development value (dinamis-dev...) in the render")
    return problems


def check_images(docs: Docs, overlay: str) -> list[str]:
    problems = []
    for name, dep in of_kind(docs, "Deployment").items():
        pod = dep["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            image = c["image"]
            repo, _, tag = image.rpartition(":")
            if overlay == "dev" and (not re.fullmatch(r"localhost/dinamis/[a-z-]+", repo) or tag != "dev"):
                problems.append(f"{name}: {image} is not localhost/dinamis/<service>:dev")
            if overlay == "production" and (
                image.startswith("localhost/") or not tag or tag in ("dev", "latest")
            ):
                problems.append(f"{name}: {image} is not a registry image with a release tag")
    return problems


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubeconform_strict_accepts_the_render(
    tools: dict[str, str], rendered: dict[str, str], overlay: str
) -> None:
    r = kubeconform(tools, rendered[overlay])
    assert r.returncode == 0, r.stdout + r.stderr
    n = len([d for d in yaml.safe_load_all(rendered[overlay]) if d])
    assert f"{n} resources found" in r.stdout and "Invalid: 0, Errors: 0, Skipped: 0" in r.stdout, r.stdout


# (manifest, what kubeconform must say about it)
BROKEN = {
    "an unknown field": (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}], selectr: {}}\n",
        "additional properties 'selectr' not allowed",
    ),
    "a wrong type": (
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: eighty}]}\n",
        "got string, want integer",
    ),
    "an unknown kind": (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
        "could not find schema for Widget",
    ),
    "a Strimzi field of an older API": (
        "apiVersion: kafka.strimzi.io/v1\nkind: KafkaUser\nmetadata: {name: u}\nspec:\n"
        "  authorization: {type: simple, acls: [{resource: {type: topic, name: t}, operation: Read}]}\n",
        "missing property 'operations'",
    ),
    "a KEDA misspelling": (
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: s}\n"
        "spec: {scaleTargetRef: {name: d}, maxReplicas: 3, triggers: []}\n",
        "additional properties 'maxReplicas' not allowed",
    ),
    "a duplicated key": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1', a: '2'}\n",
        'key "a" already set in map',
    ),
}


@pytest.mark.parametrize("what", BROKEN)
def test_kubeconform_refuses(tools: dict[str, str], what: str) -> None:
    manifest, message = BROKEN[what]
    r = kubeconform(tools, manifest)
    assert r.returncode != 0, r.stdout
    assert message in r.stdout and "Valid: 0" in r.stdout, r.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rules_hold(docs: dict[str, Docs], rendered: dict[str, str], overlay: str) -> None:
    d = docs[overlay]
    assert check_deployments(d) == []
    assert check_coverage(d) == []
    assert check_network(d) == []
    assert check_autoscaling(d) == []
    assert check_images(d, overlay) == []
    assert check_strimzi_network(d) == []
    assert check_kafka(d, development=overlay == "dev") == []
    if overlay == "production":
        assert check_no_secret_values(d, rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_deployed(docs: dict[str, Docs], overlay: str) -> None:
    expected = set(SERVICES) | (set(DEV_ONLY) if overlay == "dev" else set())
    assert set(of_kind(docs[overlay], "Deployment")) == expected


# Who reaches what, written from the code: the URLs each service's settings read
# (`*_url`), its readiness dependencies (`DEPENDENCIES` in each app.py) and delivery's pgSTAC
# reads (adapters/catalog.py). Everyone verifies API keys and entitlements with orders and
# gets service tokens from the identity provider (dinamis_shared.auth, provenance).
REACHES = {
    "ingest": {"catalog", "orders", "kafka", "seaweedfs", "keycloak"},
    "catalog": {"orders", "kafka", "postgres", "seaweedfs", "keycloak"},
    # no Kafka: the tiler neither consumes nor publishes (tiles_app.DEPENDENCIES)
    "catalog-tiles": {"orders", "postgres", "seaweedfs", "keycloak"},
    # and the supplier: its HTTPS API in production (outside:443), the simulator in development
    "orders": {"catalog", "delivery", "kafka", "ferretdb", "keycloak"},
    "delivery": {"orders", "kafka", "seaweedfs", "ferretdb", "postgres", "keycloak"},
    # webhooks: https only outside development (domain/targets.py), so 443 only
    "notify": {"orders", "kafka", "ferretdb", "smtp", "keycloak", "outside:443"},
    "portal": {
        "catalog",
        "orders",
        "delivery",
        "notify",
        "ingest",
        "reporting",
        "kafka",
        "ferretdb",
        "keycloak",
    },
    "reporting": {"orders", "kafka", "seaweedfs", "keycloak"},
    "supplier-sim": {"kafka", "seaweedfs"},
}
# the policies that let the ingress controller in: the public services', the object store's
# (presigned URLs) and the identity provider's (logins)
PUBLIC = {
    "ingest",
    "catalog",
    "catalog-tiles",
    "orders",
    "delivery",
    "notify",
    "portal",
    "server-seaweedfs",
    "server-keycloak",
}


def _reached(docs: Docs, name: str) -> set[str]:
    out = set()
    for pol in of_kind(docs, "NetworkPolicy").values():
        if not _selects(pol["spec"]["podSelector"], {"app.kubernetes.io/name": name}):
            continue
        for rule in pol["spec"].get("egress", []):
            for peer in rule.get("to", []):
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                if peer == DNS_PEER:
                    continue  # DNS, checked by check_network
                if labels.get("strimzi.io/cluster"):
                    out.add("kafka")
                elif "app.kubernetes.io/name" in labels:
                    out.add(labels["app.kubernetes.io/name"])
                elif "ipBlock" in peer:
                    out |= {f"outside:{p['port']}" for p in rule["ports"]}
                else:
                    out.add(f"unexpected peer {peer}")
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_reaches_only_what_it_needs(docs: dict[str, Docs], overlay: str) -> None:
    for name in of_kind(docs[overlay], "Deployment"):
        supplier = {"supplier-sim"} if overlay == "dev" else {"outside:443"}
        expected = REACHES[name] | (supplier if name == "orders" else set())
        assert _reached(docs[overlay], name) == expected, name
    ingress_controller = {"kubernetes.io/metadata.name": "ingress-nginx"}
    for name, pol in of_kind(docs[overlay], "NetworkPolicy").items():
        public = any(
            peer.get("namespaceSelector", {}).get("matchLabels") == ingress_controller
            for rule in pol["spec"].get("ingress", [])
            for peer in rule.get("from", [])
        )
        assert public == (name in PUBLIC), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_orders_reaches_only_the_supplier_range_outside(docs: dict[str, Docs], overlay: str) -> None:
    blocks = {
        peer["ipBlock"]["cidr"]
        for pol in of_kind(docs[overlay], "NetworkPolicy").values()
        if _selects(pol["spec"]["podSelector"], {"app.kubernetes.io/name": "orders"})
        for rule in pol["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    }
    # production: the placeholder of overlays/production/orders-to-supplier.yaml (RFC 5737),
    # never the whole Internet; development: the simulator only
    assert blocks == ({"198.51.100.0/24"} if overlay == "production" else set())


# Who reaches each server, written from the code: S3 keys (acls.S3_RIGHTS: ingest, catalog,
# catalog-tiles, delivery, reporting) plus the ingress controller for presigned URLs;
# PostgreSQL: DEPENDENCIES POSTGRES (catalog, catalog-tiles, delivery) and Keycloak's own
# database (deploy/local/stack, KC_DB_URL); Mongo: DEPENDENCIES MONGODB (orders, delivery,
# notify, portal); SMTP: notify; Keycloak: every service (dinamis_shared.auth) and the
# ingress controller (logins); FerretDB's PostgreSQL: FerretDB only.
REACHED_BY = {
    "seaweedfs": {"ingest", "catalog", "catalog-tiles", "delivery", "reporting", "ingress-nginx"},
    "postgres": {"catalog", "catalog-tiles", "delivery", "keycloak"},
    "ferretdb": {"orders", "delivery", "notify", "portal"},
    "ferretdb-postgres": {"ferretdb"},
    "smtp": {"notify"},
    "keycloak": {*SERVICES, "ingress-nginx"},  # every service (tokens, JWKS) and logins
}
# What the servers themselves reach (besides DNS).
SERVERS_REACH = {"ferretdb": {"ferretdb-postgres"}, "keycloak": {"postgres"}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_server_is_reached_only_by_its_users(docs: dict[str, Docs], overlay: str) -> None:
    for server, port in SERVERS.items():
        labels = {"app.kubernetes.io/name": server}
        allowed = _allowed(docs[overlay], labels, "ingress")
        expected = REACHED_BY[server] | (
            {"supplier-sim"} if server == "seaweedfs" and overlay == "dev" else set()
        )
        assert allowed == {(who, port) for who in expected}, server
        out = {who for who, _ in _allowed(docs[overlay], labels, "egress")} - {"dns"}
        assert out == SERVERS_REACH.get(server, set()), server
    # both sides agree: a service's policy lets it out to a server iff the server's lets it in
    for service, reached in REACHES.items():
        for server in SERVERS:
            if service in of_kind(docs[overlay], "Deployment"):
                assert (server in reached) == (
                    service in REACHED_BY[server] or (service, server) == ("supplier-sim", "seaweedfs")
                ), (
                    service,
                    server,
                )


APPS = {
    "ingest": "ingest/src/dinamis_ingest/app.py",
    "catalog": "catalog/src/dinamis_catalog/app.py",
    "catalog-tiles": "catalog/src/dinamis_catalog/tiles_app.py",
    "orders": "orders/src/dinamis_orders/app.py",
    "delivery": "delivery/src/dinamis_delivery/app.py",
    "notify": "notify/src/dinamis_notify/app.py",
    "portal": "portal/src/dinamis_portal/app.py",
    "reporting": "reporting/src/dinamis_reporting/app.py",
}


def _dependencies(service: str) -> set[str]:
    """The `Dependency.X` names of `DEPENDENCIES = (...)` in the service's app module, read
    from its source (importing the eight apps costs seconds)."""
    import ast

    tree = ast.parse((ROOT / "services" / APPS[service]).read_text())
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DEPENDENCIES" for t in node.targets)
    ]
    assert isinstance(value, ast.Tuple)
    return {e.attr for e in value.elts if isinstance(e, ast.Attribute)}


def test_the_servers_users_are_those_the_code_declares() -> None:
    """Each service's readiness dependencies (DEPENDENCIES of its app.py) are among what the
    server's policy lets in (some users are not readiness dependencies: delivery's pgSTAC
    reads, the tiler's S3)."""
    server_of = {
        "POSTGRES": "postgres",
        "MONGODB": "ferretdb",
        "S3": "seaweedfs",
        "SMTP": "smtp",
        "KAFKA": "kafka",
    }
    assert _dependencies("delivery") == {"KAFKA", "S3", "MONGODB", "POSTGRES"}  # the parser reads them
    for service in APPS:
        for dep in _dependencies(service):
            assert server_of[dep] in REACHES[service], (service, dep)
            if server_of[dep] in REACHED_BY:
                assert service in REACHED_BY[server_of[dep]], (service, dep)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_catalog_tiles_holds_no_kafka_identity_nor_service_client(
    docs: dict[str, Docs], overlay: str
) -> None:
    assert _dependencies("catalog-tiles") == {"POSTGRES", "S3"}
    d = docs[overlay]
    assert "catalog-tiles" not in of_kind(d, "KafkaUser")
    pod = _dep(d, "catalog-tiles")["spec"]["template"]
    assert "dinamis.fr/kafka-client" not in pod["metadata"]["labels"]
    refs = {
        var["valueFrom"]["secretKeyRef"]["name"]
        for c in pod["spec"]["containers"]
        for var in c.get("env", [])
        if "valueFrom" in var
    }
    assert refs == {"dinamis-s3-catalog-tiles", "dinamis-postgres-catalog-tiles"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_database_secret(docs: dict[str, Docs], overlay: str) -> None:
    """dinamis-mongo-<service>, dinamis-postgres-<service>: one role each can come later
    without touching the manifests; the dev overlay generates each one."""
    uses = set()
    for name in of_kind(docs[overlay], "Deployment"):
        for c in _dep(docs[overlay], name)["spec"]["template"]["spec"]["containers"]:
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef", {}).get("name", "")
                if ref.startswith(("dinamis-mongo", "dinamis-postgres")):
                    uses.add(ref)
                    assert ref.endswith(f"-{name}"), (name, ref)
    assert uses == {
        "dinamis-mongo-orders",
        "dinamis-mongo-delivery",
        "dinamis-mongo-notify",
        "dinamis-mongo-portal",
        "dinamis-postgres-catalog",
        "dinamis-postgres-catalog-tiles",
        "dinamis-postgres-delivery",
    }
    secrets = set(of_kind(docs[overlay], "Secret"))
    assert (uses <= secrets) if overlay == "dev" else not secrets


SETTINGS = {
    "ingest": "dinamis_ingest.settings:IngestSettings",
    "catalog": "dinamis_catalog.settings:CatalogSettings",
    "catalog-tiles": "dinamis_catalog.settings:TilesSettings",
    "orders": "dinamis_orders.settings:OrdersSettings",
    "delivery": "dinamis_delivery.settings:DeliverySettings",
    "notify": "dinamis_notify.settings:NotifySettings",
    "portal": "dinamis_portal.settings:PortalSettings",
    "reporting": "dinamis_reporting.settings:ReportingSettings",
    "supplier-sim": "dinamis_sim.supplier:SupplierSettings",
}
# Read by the image or the runtime, not by the settings (docs/containers.md, the CA bundle).
NOT_SETTINGS = {"DINAMIS_HEALTH_PORT", "SSL_CERT_FILE", "HOME"}


def _settings_class(service: str) -> Any:
    import importlib

    module, _, cls = SETTINGS[service].partition(":")
    return getattr(importlib.import_module(module), cls)


def _environment(docs: Docs, name: str) -> dict[str, str]:
    """The environment the Deployment's container gets: its ConfigMaps, then its variables,
    secretKeyRefs resolved from the render's Secrets or, when the render has none
    (production), a placeholder."""
    import base64

    configmaps, secrets = of_kind(docs, "ConfigMap"), of_kind(docs, "Secret")
    container = _dep(docs, name)["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]["data"]
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        if ref["name"] in secrets:
            env[var["name"]] = base64.b64decode(secrets[ref["name"]]["data"][ref["key"]]).decode()
        else:  # production: created outside git
            env[var["name"]] = (
                '{"airbus": "placeholder"}' if ref["key"] == "ingest-secrets" else "placeholder"
            )
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_a_setting_the_service_reads(docs: dict[str, Docs], overlay: str) -> None:
    from dinamis_shared.settings import IDENTITY_FIELDS, ServiceSettings

    for name in of_kind(docs[overlay], "Deployment"):
        cls = _settings_class(name)
        own = cls.model_config["env_prefix"]
        for var in _environment(docs[overlay], name):
            if var in NOT_SETTINGS:
                continue
            # the service's own prefix first (DINAMIS_ORDERS_URL is orders_url for everyone,
            # orders included: no field `url` of its own), then the platform-wide one, which
            # never carries an identity (read under the service's own prefix only: settings.py)
            own_field = var.startswith(own) and var[len(own) :].lower() in cls.model_fields
            field = var.removeprefix("DINAMIS_").lower()
            platform = var.startswith("DINAMIS_") and field in ServiceSettings.model_fields
            assert own_field or (platform and field not in IDENTITY_FIELDS), (
                f"{name}: {var} is read by no setting"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_accepts_its_configuration(
    docs: dict[str, Docs], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The services' own checks pass on the rendered environment: in production the refusals
    of `ServiceSettings._refuse_unsafe_defaults` (TLS to Kafka, a JWKS URL, no development
    secret...), with the placeholders standing for the Secrets created outside git."""
    import os

    for name in of_kind(docs[overlay], "Deployment"):
        for var in [v for v in os.environ if v.startswith("DINAMIS_")]:
            monkeypatch.delenv(var)
        env = _environment(docs[overlay], name)
        for var, value in env.items():
            if var not in NOT_SETTINGS:
                monkeypatch.setenv(var, value)
        settings = _settings_class(name)()
        assert settings.environment == ("development" if overlay == "dev" else "production")
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert settings.kafka_sasl_username == name
        assert settings.http_host == "0.0.0.0"
        assert settings.http_port == int(env["DINAMIS_HEALTH_PORT"])


def test_a_production_configuration_the_services_refuse_is_caught(
    docs: dict[str, Docs], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from pydantic import ValidationError

    d = copy.deepcopy(docs["production"])
    of_kind(d, "ConfigMap")["dinamis-platform"]["data"]["DINAMIS_KAFKA_SECURITY_PROTOCOL"] = "SASL_PLAINTEXT"
    for var in [v for v in os.environ if v.startswith("DINAMIS_")]:
        monkeypatch.delenv(var)
    for var, value in _environment(d, "orders").items():
        monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError, match="kafka_security_protocol must be SASL_SSL"):
        _settings_class("orders")()


def test_committed_strimzi_resources_are_what_the_registry_gives() -> None:
    for development, path in (
        (False, K8S / "base" / "kafka" / "generated.yaml"),
        (True, K8S / "overlays" / "dev" / "kafka-dev-users.yaml"),
    ):
        assert path.read_text() == strimzi.render(development=development), (
            f"{path} is stale: run `make k8s-generate`"
        )


def test_production_has_no_supplier_simulator_nor_its_user(docs: dict[str, Docs]) -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in docs["production"]}
    assert ("Deployment", "supplier-sim") not in names and ("KafkaUser", "supplier-sim") not in names
    assert ("KafkaUser", "supplier-sim") in {(d["kind"], d["metadata"]["name"]) for d in docs["dev"]}


def test_dev_secrets_are_the_local_stack_values(docs: dict[str, Docs]) -> None:
    secrets = of_kind(docs["dev"], "Secret")
    import base64

    value = base64.b64decode(secrets["dinamis-s3-delivery"]["data"]["secret-key"]).decode()
    assert value == "dinamis-dev-s3-delivery"
    assert (
        of_kind(docs["dev"], "ConfigMap")["dinamis-platform"]["data"]["DINAMIS_ENVIRONMENT"] == "development"
    )
    assert (
        of_kind(docs["production"], "ConfigMap")["dinamis-platform"]["data"]["DINAMIS_ENVIRONMENT"]
        == "production"
    )


# --- each rule fails on a broken manifest ----------------------------------------------------


def _dep(d: Docs, name: str) -> dict[str, Any]:
    return of_kind(d, "Deployment")[name]


def _container(d: Docs, name: str) -> dict[str, Any]:
    return _dep(d, name)["spec"]["template"]["spec"]["containers"][0]


def _drop(d: Docs, kind: str, name: str) -> None:
    d[:] = [x for x in d if not (x["kind"] == kind and x["metadata"]["name"] == name)]


def _so(d: Docs, name: str) -> dict[str, Any]:
    return of_kind(d, "ScaledObject")[name]


def _kafka(d: Docs) -> dict[str, Any]:
    return of_kind(d, "Kafka")["dinamis"]["spec"]["kafka"]


def _rule(d: Docs, policy: str, direction: str, peer: str) -> dict[str, Any]:
    """The first rule of a policy whose peers include `peer` (as `_allowed` names them)."""
    pol = of_kind(d, "NetworkPolicy")[policy]
    one = copy.deepcopy(pol)
    for rule in pol["spec"][direction]:
        one["spec"][direction] = [rule]
        if any(kind == peer for kind, _ in _allowed([one], {}, direction, any_pod=True)):
            return rule
    raise KeyError(f"{policy}: no {direction} rule to {peer}")


BREAKS: dict[str, tuple[Callable[[Docs], None], Callable[[Docs], list[str]], str]] = {
    "no liveness probe": (
        lambda d: _container(d, "orders").pop("livenessProbe"),
        check_deployments,
        "orders/orders: probes",
    ),
    "readiness on /healthz": (
        lambda d: _container(d, "portal")["readinessProbe"]["httpGet"].update(path="/healthz"),
        check_deployments,
        "portal/portal: probes",
    ),
    "no limits": (
        lambda d: _container(d, "notify")["resources"].pop("limits"),
        check_deployments,
        "resources.limits",
    ),
    "root allowed": (
        lambda d: _dep(d, "catalog")["spec"]["template"]["spec"]["securityContext"].update(
            runAsNonRoot=False
        ),
        check_deployments,
        "catalog: runAsNonRoot",
    ),
    "escalation": (
        lambda d: _container(d, "ingest")["securityContext"].update(allowPrivilegeEscalation=True),
        check_deployments,
        "ingest/ingest: allowPrivilegeEscalation",
    ),
    "a capability kept": (
        lambda d: _container(d, "ingest")["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        check_deployments,
        "capabilities drop ALL",
    ),
    "no anti-affinity": (
        lambda d: _dep(d, "delivery")["spec"]["template"]["spec"].pop("affinity"),
        check_deployments,
        "delivery: pod anti-affinity",
    ),
    "no PDB": (
        lambda d: _drop(d, "PodDisruptionBudget", "notify"),
        check_coverage,
        "notify: no PodDisruptionBudget",
    ),
    "no policy": (
        lambda d: _drop(d, "NetworkPolicy", "reporting"),
        check_coverage,
        "reporting: no NetworkPolicy",
    ),
    "no default deny": (
        lambda d: _drop(d, "NetworkPolicy", "default-deny"),
        check_coverage,
        "portal: no default-deny NetworkPolicy covers it",
    ),
    "a default deny that misses the services": (
        lambda d: of_kind(d, "NetworkPolicy")["default-deny"]["spec"].update(
            podSelector={"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "DoesNotExist"}]}
        ),
        check_coverage,
        "orders: no default-deny NetworkPolicy covers it",
    ),
    # the exemption the review found: Strimzi's pods outside default deny
    "a default deny that exempts Strimzi": (
        lambda d: of_kind(d, "NetworkPolicy")["default-deny"]["spec"].update(
            podSelector={"matchExpressions": [{"key": "strimzi.io/cluster", "operator": "DoesNotExist"}]}
        ),
        check_coverage,
        "strimzi broker: no default-deny NetworkPolicy covers it",
    ),
    "no policy for a server": (
        lambda d: _drop(d, "NetworkPolicy", "server-ferretdb"),
        check_coverage,
        "server ferretdb: no NetworkPolicy",
    ),
    "brokers cut from one another": (
        lambda d: _rule(d, "strimzi-kafka", "egress", "strimzi")["ports"].pop(),
        check_strimzi_network,
        "strimzi broker egress: missing [('strimzi', 9091)]",
    ),
    "the entity operator cut from the API server": (
        lambda d: _drop(d, "NetworkPolicy", "strimzi-entity-operator-api"),
        check_strimzi_network,
        "strimzi entity operator egress: missing [('ipBlock', 443), ('ipBlock', 6443)]",
    ),
    "an ingress rule without from (allow-all)": (
        lambda d: _rule(d, "delivery", "ingress", "orders").pop("from"),
        check_network,
        "delivery: ingress rule 0 without `from` (allows all)",
    ),
    "an egress rule without to (allow-all)": (
        lambda d: _rule(d, "strimzi-kafka", "egress", "strimzi").pop("to"),
        check_network,
        "strimzi-kafka: egress rule 1 without `to` (allows all)",
    ),
    "an unknown namespace": (
        lambda d: _rule(d, "catalog", "ingress", "ingress-nginx")["from"][0].update(
            namespaceSelector={"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
        ),
        check_network,
        "is none of ['ingress-nginx', 'keda', 'kube-system']",
    ),
    "every namespace": (
        lambda d: _rule(d, "catalog", "ingress", "ingress-nginx")["from"][0].update(namespaceSelector={}),
        check_network,
        "catalog: ingress rule 1: namespaceSelector {} is none of",
    ),
    "DNS rule on another port": (
        lambda d: _rule(d, "portal", "egress", "dns")["ports"].append({"protocol": "TCP", "port": 443}),
        check_network,
        "portal: egress rule 0 to DNS on {443, 53}",
    ),
    "brokers reached beside the listener": (
        lambda d: _rule(d, "ingest", "egress", "strimzi-broker")["ports"].append(
            {"protocol": "TCP", "port": 9091}
        ),
        check_network,
        "ingest: egress to the brokers on {9091, 9093}, not the listener",
    ),
    "kube-system beyond DNS": (
        lambda d: _rule(d, "orders", "egress", "dns")["to"][0].pop("podSelector"),
        check_network,
        "orders: egress rule 0: namespace kube-system without podSelector",
    ),
    "the whole keda namespace on the brokers": (
        lambda d: _rule(d, "strimzi-kafka", "ingress", "keda-operator")["from"][1].pop("podSelector"),
        check_network,
        "strimzi-kafka: ingress rule 1: namespace keda without podSelector",
    ),
    "every pod of the namespace": (
        lambda d: _rule(d, "server-postgres", "ingress", "catalog")["from"].append({"podSelector": {}}),
        check_network,
        "server-postgres: ingress rule 0: an empty podSelector",
    ),
    "an address block over the private ranges": (
        lambda d: _rule(d, "notify", "egress", "ipBlock")["to"][0]["ipBlock"]["except"].remove("10.0.0.0/8"),
        check_network,
        "notify: egress rule 6: ipBlock 0.0.0.0/0 does not leave out ['10.0.0.0/8']",
    ),
    "an address block without except": (
        lambda d: _rule(d, "notify", "egress", "ipBlock")["to"][0]["ipBlock"].pop("except"),
        check_network,
        "ipBlock 0.0.0.0/0 does not leave out ['10.0.0.0/8', '172.16.0.0/12'",
    ),
    "a server on a wrong port": (
        lambda d: _rule(d, "server-smtp", "ingress", "notify")["ports"][0].update(port=587),
        check_network,
        "server-smtp: ingress to smtp not only on 25",
    ),
    "egress to a server on a wrong port": (
        lambda d: _rule(d, "delivery", "egress", "postgres")["ports"][0].update(port=5433),
        check_network,
        "delivery: egress to postgres on {5433}",
    ),
    "the API token mounted": (
        lambda d: _dep(d, "portal")["spec"]["template"]["spec"].update(automountServiceAccountToken=True),
        check_deployments,
        "portal: automountServiceAccountToken",
    ),
    "a capability added": (
        lambda d: _container(d, "notify")["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"]),
        check_deployments,
        "notify/notify: capabilities add ['NET_BIND_SERVICE']",
    ),
    "a second, plain listener": (
        lambda d: _kafka(d)["listeners"].append(
            {"name": "plain", "port": 9092, "type": "internal", "tls": False}
        ),
        check_kafka,
        "2 listeners, one expected",
    ),
    "TLS off": (
        lambda d: _kafka(d)["listeners"][0].update(tls=False),
        check_kafka,
        "listener tls: not tls + scram-sha-512",
    ),
    "mutual TLS instead of SCRAM": (
        lambda d: _kafka(d)["listeners"][0].update(authentication={"type": "tls"}),
        check_kafka,
        "listener tls: not tls + scram-sha-512",
    ),
    "the listener open to the whole keda namespace": (
        lambda d: _kafka(d)["listeners"][0]["networkPolicyPeers"][1].pop("podSelector"),
        check_kafka,
        "listener tls: namespace keda without podSelector",
    ),
    "a prefixed grant": (
        lambda d: of_kind(d, "KafkaUser")["ingest"]["spec"]["authorization"]["acls"][0]["resource"].update(
            patternType="prefix"
        ),
        check_kafka,
        "KafkaUser ingest: {",
    ),
    "a grant not in acls()": (
        lambda d: of_kind(d, "KafkaUser")["reporting"]["spec"]["authorization"]["acls"].append(
            {
                "type": "allow",
                "resource": {"type": "topic", "name": "dinamis.user-changed.v1", "patternType": "literal"},
                "operations": ["Write"],
                "host": "*",
            }
        ),
        check_kafka,
        "grant not in acls(): ('reporting', 'Write', 'topic', 'dinamis.user-changed.v1')",
    ),
    "a grant of acls() missing": (
        lambda d: _drop(d, "KafkaUser", "catalog"),
        check_kafka,
        "grant of acls() missing: ('catalog', 'Read', 'group', 'catalog')",
    ),
    "credentials in a ConfigMap URL": (
        lambda d: of_kind(d, "ConfigMap")["orders-config"]["data"].update(
            DINAMIS_ORDERS_CATALOG_URL="http://orders:hunter2@catalog:8102"
        ),
        lambda d: check_no_secret_values(d, ""),
        "ConfigMap orders-config: DINAMIS_ORDERS_CATALOG_URL",
    ),
    "credentials in an environment value": (
        lambda d: _container(d, "delivery")["env"].append(
            {"name": "DINAMIS_DELIVERY_ORDERS_URL", "value": "http://delivery:hunter2@orders:8103"}
        ),
        lambda d: check_no_secret_values(d, ""),
        "delivery/delivery: DINAMIS_DELIVERY_ORDERS_URL has a literal value",
    ),
    "no Service": (lambda d: _drop(d, "Service", "notify"), check_coverage, "notify: no Service"),
    "egress to the wrong port": (
        lambda d: next(
            r
            for r in of_kind(d, "NetworkPolicy")["orders"]["spec"]["egress"]
            if r["to"][0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            == "catalog"
        )["ports"][0].update(port=8101),
        check_network,
        "orders: egress to catalog",
    ),
    "no DNS": (
        lambda d: of_kind(d, "NetworkPolicy")["catalog"]["spec"]["egress"].pop(0),
        check_network,
        "catalog: no DNS",
    ),
    "more replicas than partitions": (
        lambda d: _so(d, "delivery")["spec"].update(maxReplicaCount=13),
        check_autoscaling,
        "maxReplicaCount 13 > 12 partitions",
    ),
    "fewer partitions than replicas": (
        lambda d: of_kind(d, "KafkaTopic")["dinamis.scene-acquired.v1"]["spec"].update(partitions=4),
        check_autoscaling,
        "ingest: maxReplicaCount 6 > 4 partitions",
    ),
    "a topic the group does not consume": (
        lambda d: _so(d, "ingest")["spec"]["triggers"][0]["metadata"].update(
            topic="dinamis.product-ready.v1"
        ),
        check_autoscaling,
        "group ingest does not consume",
    ),
    "no lag threshold": (
        lambda d: _so(d, "delivery")["spec"]["triggers"][0]["metadata"].pop("lagThreshold"),
        check_autoscaling,
        "delivery: lagThreshold None",
    ),
    "scaled to zero": (
        lambda d: _so(d, "ingest")["spec"].update(minReplicaCount=0),
        check_autoscaling,
        "minReplicaCount < 1",
    ),
    "no HPA": (
        lambda d: _drop(d, "HorizontalPodAutoscaler", "catalog-tiles"),
        check_autoscaling,
        "catalog-tiles: no HPA",
    ),
    "replicas fighting the autoscaler": (
        lambda d: _dep(d, "delivery")["spec"].update(replicas=2),
        check_autoscaling,
        "delivery: replicas set",
    ),
    "a production image from localhost": (
        lambda d: _container(d, "orders").update(image="localhost/dinamis/orders:dev"),
        lambda d: check_images(d, "production"),
        "orders: localhost/dinamis/orders:dev",
    ),
}


@pytest.mark.parametrize("what", BREAKS)
def test_each_rule_fails_on_a_broken_manifest(docs: dict[str, Docs], what: str) -> None:
    breaker, check, expected = BREAKS[what]
    broken = copy.deepcopy(docs["production"])
    assert check(broken) == []
    breaker(broken)
    problems = check(broken)
    assert any(expected in p for p in problems), problems


def test_secret_rule_fails_on_a_secret_in_production(docs: dict[str, Docs], rendered: dict[str, str]) -> None:
    d = copy.deepcopy(docs["production"])
    # the dev render has Secrets with the development values: every part of the rule fires
    dev = docs["dev"]
    problems = check_no_secret_values(dev, rendered["dev"])
    assert any(p.startswith("Secret dinamis-mongo") for p in problems)
    assert "a development value (dinamis-dev...) in the render" in problems
    _container(d, "orders")["env"].append({"name": "DINAMIS_ORDERS_SUPPLIER_API_KEY", "value": "s3cr3t"})
    of_kind(d, "ConfigMap")["orders-config"]["data"]["DINAMIS_ORDERS_MONGO_URL"] = "mongodb://u:p@x/"
    problems = check_no_secret_values(d, "")
    assert "orders/orders: DINAMIS_ORDERS_SUPPLIER_API_KEY has a literal value" in problems
    assert "ConfigMap orders-config: DINAMIS_ORDERS_MONGO_URL" in problems


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
