//! The deployment files in `deploy/`, checked without a cluster: each
//! Kubernetes manifest is read into the API's own types (k8s-openapi, API
//! 1.33) and written back, so a misspelt or misplaced key (which the types
//! would drop) fails as surely as a wrong type; then the fields that must
//! agree with each other and with lucet-serve do: the RuntimeClass and the
//! containerd runtime entries, the pod's runtime class, the probes and
//! ports against the image's lucet-serve configuration (read by
//! lucet-serve's own parser), the Service's target port, the autoscaler's
//! target.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Container, Pod, Service};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use lucet_serve::{Config, ConfigBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shim's binary; containerd derives it from the runtime type.
const SHIM_BINARY: &str = "containerd-shim-lucet-v1";
const RUNTIME_TYPE: &str = "io.containerd.lucet.v1";

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"))
}

/// Every document of a YAML file, as JSON values.
fn documents(rel: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(&read(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"))
}

/// Where `a` and `b` first differ, as a path into the document.
fn difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = difference(v, w, &format!("{at}.{k}")) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{at}.{k} is not a field there")),
                }
            }
            y.keys()
                .find(|k| !x.contains_key(*k))
                .map(|k| format!("{at}.{k} appeared"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| difference(v, w, &format!("{at}[{i}]"))),
        _ if a == b => None,
        _ => Some(format!("{at}: {a} reads as {b}")),
    }
}

/// `doc` read as `T`; panics if the API type has no place for any of it.
fn typed<T: DeserializeOwned + Serialize>(rel: &str, doc: &Value) -> T {
    let what = format!("deploy/{rel}: {} {}", doc["kind"], doc["metadata"]["name"]);
    let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let back = serde_json::to_value(&t).unwrap();
    if let Some(d) = difference(doc, &back, "") {
        panic!("{what}: {d}");
    }
    t
}

/// The one document of `kind` in a file.
fn one<T: DeserializeOwned + Serialize>(rel: &str, kind: &str) -> T {
    let docs: Vec<_> = documents(rel)
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .collect();
    assert_eq!(docs.len(), 1, "deploy/{rel}: one {kind}");
    typed(rel, &docs[0])
}

/// lucet-serve's configuration in the image, as the server reads it.
fn image_config() -> Config {
    ConfigBuilder::new()
        .toml(&read("image/config.toml"), "/etc/lucet-serve")
        .unwrap()
        // the build script appends the routes
        .route("/hello", "routes/hello.so")
        .build()
        .expect("deploy/image/config.toml is a valid lucet-serve configuration")
}

/// `VAR=value` set in the image build script.
fn script_setting(var: &str) -> String {
    read("image/build-serve-image.sh")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{var}=")))
        .unwrap_or_else(|| panic!("build-serve-image.sh sets no {var}"))
        .to_string()
}

fn labels(m: &Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    m.clone().unwrap_or_default()
}

#[test]
fn every_manifest_is_checked() {
    let mut files: Vec<_> = std::fs::read_dir(deploy("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "lucet-serve.yaml",
            "rcm-shim.yaml",
            "runtimeclass.yaml",
            "wasm-pod.yaml"
        ],
        "a new manifest needs its checks here"
    );
}

#[test]
fn runtime_class_names_the_containerd_runtime_entries() {
    let rc: RuntimeClass = one("kubernetes/runtimeclass.yaml", "RuntimeClass");
    assert_eq!(rc.metadata.name.as_deref(), Some("lucet"));
    assert_eq!(rc.handler, "lucet");
    let selector = rc.scheduling.as_ref().and_then(|s| s.node_selector.clone());
    assert_eq!(
        selector
            .unwrap_or_default()
            .get("lucet")
            .map(String::as_str),
        Some("true"),
        "pods go to nodes labelled lucet=true"
    );
    // containerd turns io.containerd.NAME.vN into containerd-shim-NAME-vN
    let (name, version) = RUNTIME_TYPE
        .strip_prefix("io.containerd.")
        .and_then(|t| t.rsplit_once('.'))
        .unwrap();
    assert_eq!(format!("containerd-shim-{name}-{version}"), SHIM_BINARY);

    // The runtime entry for each containerd, under its CRI plugin's table.
    for (file, plugin) in [
        (
            "containerd/config-v1.6-1.7.toml",
            "io.containerd.grpc.v1.cri",
        ),
        ("containerd/config-v2.toml", "io.containerd.cri.v1.runtime"),
    ] {
        let t: toml::Table = toml::from_str(&read(file)).unwrap();
        assert!(
            !t.contains_key("version"),
            "{file} is appended to a config that has its version"
        );
        let plugins = t["plugins"].as_table().unwrap();
        assert_eq!(
            plugins.keys().collect::<Vec<_>>(),
            [plugin],
            "{file}: the CRI plugin's table"
        );
        let runtimes = plugins[plugin]["containerd"]["runtimes"]
            .as_table()
            .unwrap();
        assert_eq!(runtimes.keys().collect::<Vec<_>>(), [&rc.handler], "{file}");
        let entry = runtimes[&rc.handler].as_table().unwrap();
        assert_eq!(
            entry.get("runtime_type").and_then(|v| v.as_str()),
            Some(RUNTIME_TYPE),
            "{file}"
        );
        // The shim's limit annotations reach it only if CRI passes them.
        let passed: Vec<&str> = entry
            .get("pod_annotations")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(passed, ["lucet.dev/*"], "{file}: pod_annotations");
        assert_eq!(
            entry.len(),
            2,
            "{file}: only runtime_type and pod_annotations are set"
        );
    }
}

#[test]
fn runtime_class_manager_shim_matches_its_naming() {
    let docs = documents("kubernetes/rcm-shim.yaml");
    assert_eq!(docs.len(), 1);
    let shim = &docs[0];
    assert_eq!(shim["apiVersion"], "runtime.spinkube.dev/v1alpha1");
    assert_eq!(shim["kind"], "Shim");
    let spec = &shim["spec"];
    for key in spec.as_object().unwrap().keys() {
        assert!(
            [
                "nodeSelector",
                "fetchStrategy",
                "runtimeClass",
                "rolloutStrategy",
                "containerdRuntimeOptions"
            ]
            .contains(&key.as_str()),
            "spec.{key} is not a field of the Shim resource"
        );
    }
    // The manager names the runtime after the binary, less "containerd-shim-".
    let handler = SHIM_BINARY.strip_prefix("containerd-shim-").unwrap();
    assert_eq!(spec["runtimeClass"]["handler"], handler);
    // The same RuntimeClass name pods use, on the same nodes.
    let rc: RuntimeClass = one("kubernetes/runtimeclass.yaml", "RuntimeClass");
    assert_eq!(spec["runtimeClass"]["name"], rc.metadata.name.unwrap());
    let selector: BTreeMap<String, String> =
        serde_json::from_value(spec["nodeSelector"].clone()).unwrap();
    assert_eq!(Some(selector.clone()), rc.scheduling.unwrap().node_selector);
    // The manager labels provisioned nodes NAME=provisioned: that must not
    // overwrite the label that selects them.
    let name = shim["metadata"]["name"].as_str().unwrap();
    assert!(
        !selector.contains_key(name),
        "the Shim's name is a selector key"
    );
    let location = spec["fetchStrategy"]["anonHttp"]["location"]
        .as_str()
        .unwrap();
    assert!(location.starts_with("https://") && location.ends_with(".tar.gz"));
    assert!(["recreate", "rolling"].contains(&spec["rolloutStrategy"]["type"].as_str().unwrap()));
}

#[test]
fn wasm_pod_runs_on_the_lucet_runtime_class() {
    let pod: Pod = one("kubernetes/wasm-pod.yaml", "Pod");
    let spec = pod.spec.unwrap();
    let rc: RuntimeClass = one("kubernetes/runtimeclass.yaml", "RuntimeClass");
    assert_eq!(spec.runtime_class_name, rc.metadata.name);
    assert_eq!(spec.containers.len(), 1);
    let c = &spec.containers[0];
    let entry = c.command.as_ref().and_then(|c| c.first()).unwrap();
    assert!(
        entry.ends_with(".wasm"),
        "the entrypoint is a .wasm: {entry}"
    );
    assert!(c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .is_some());
}

/// The container's port called `port` (or numbered so).
fn container_port(c: &Container, port: &IntOrString) -> i32 {
    let ports = c.ports.clone().unwrap_or_default();
    match port {
        IntOrString::Int(n) => {
            assert!(ports.iter().any(|p| p.container_port == *n), "no port {n}");
            *n
        }
        IntOrString::String(name) => {
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("no port named {name}"))
                .container_port
        }
    }
}

#[test]
fn lucet_serve_deployment_probes_ports_and_shutdown_match_the_server() {
    let rel = "kubernetes/lucet-serve.yaml";
    let config = image_config();
    let port = i32::from(config.listen.port());
    let d: Deployment = one(rel, "Deployment");
    let name = d.metadata.name.clone().unwrap();
    let spec = d.spec.unwrap();
    let selector = labels(&spec.selector.match_labels);
    let template_labels = labels(&spec.template.metadata.as_ref().unwrap().labels);
    assert!(!selector.is_empty());
    assert!(
        selector
            .iter()
            .all(|(k, v)| template_labels.get(k) == Some(v)),
        "the selector matches the pods"
    );
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.runtime_class_name, None, "lucet-serve runs under runc");
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];
    // The image the build script makes, by default.
    assert_eq!(c.image, Some(script_setting("name")));

    // Probes: the server's own endpoints, on the port it listens on.
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>, path: &Option<String>| {
        let get = p
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .expect("an HTTP probe");
        assert_eq!(get.path, *path, "probe path");
        assert_eq!(container_port(c, &get.port), port, "probe port");
        assert_eq!(get.scheme.as_deref().unwrap_or("HTTP"), "HTTP");
    };
    probe(&c.readiness_probe, &config.ready_path);
    probe(&c.liveness_probe, &config.health_path);
    let annotations = labels(&spec.template.metadata.unwrap().annotations);
    assert_eq!(
        annotations.get("prometheus.io/path"),
        config.metrics_path.as_ref()
    );
    assert_eq!(
        annotations.get("prometheus.io/port"),
        Some(&port.to_string())
    );
    assert_eq!(
        annotations.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );

    // Requests and limits for CPU and memory (the autoscaler needs the CPU
    // request).
    let res = c.resources.clone().unwrap();
    for (what, m) in [("requests", res.requests), ("limits", res.limits)] {
        let m = m.unwrap_or_else(|| panic!("no resource {what}"));
        assert!(m.contains_key("cpu") && m.contains_key("memory"), "{what}");
    }

    // The image's user, a root that is never written to.
    let user = script_setting("user");
    let (uid, gid) = user.split_once(':').unwrap();
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user.map(|u| u.to_string()).as_deref(), Some(uid));
    assert_eq!(
        psc.run_as_group.map(|g| g.to_string()).as_deref(),
        Some(gid)
    );
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));

    // Shutdown: the drain delay and the shutdown timeout, as the server
    // reads its arguments, fit in the grace period.
    let args = c.args.clone().unwrap_or_default();
    let arg = |flag: &str| {
        let i = args.iter().position(|a| a == flag);
        i.map(|i| args[i + 1].clone())
            .unwrap_or_else(|| panic!("no {flag} in {args:?}"))
    };
    let shutdown = ConfigBuilder::new()
        .route("/hello", "hello.so")
        .drain_delay(arg("--drain-delay"))
        .shutdown_timeout(arg("--shutdown-timeout"))
        .build()
        .unwrap();
    assert!(
        shutdown.drain_delay > Duration::ZERO,
        "a drain delay is set"
    );
    let grace = Duration::from_secs(pod.termination_grace_period_seconds.unwrap() as u64);
    assert!(
        shutdown.drain_delay + shutdown.shutdown_timeout < grace,
        "drain {:?} + shutdown {:?} within the grace period {grace:?}",
        shutdown.drain_delay,
        shutdown.shutdown_timeout
    );
    let period = c
        .readiness_probe
        .as_ref()
        .unwrap()
        .period_seconds
        .unwrap_or(10);
    assert!(
        Duration::from_secs(period as u64) < shutdown.drain_delay,
        "readiness is probed at least once while draining"
    );

    // The Service sends its port to the container's.
    let svc: Service = one(rel, "Service");
    let svc = svc.spec.unwrap();
    assert_eq!(
        labels(&svc.selector),
        selector,
        "the Service selects the pods"
    );
    let ports = svc.ports.unwrap();
    assert_eq!(ports.len(), 1);
    let target = ports[0]
        .target_port
        .clone()
        .unwrap_or(IntOrString::Int(ports[0].port));
    assert_eq!(container_port(c, &target), port);

    // The autoscaler scales this Deployment on CPU utilisation.
    let hpa: HorizontalPodAutoscaler = one(rel, "HorizontalPodAutoscaler");
    let hpa = hpa.spec.unwrap();
    assert_eq!(hpa.scale_target_ref.kind, "Deployment");
    assert_eq!(hpa.scale_target_ref.name, name);
    assert_eq!(hpa.scale_target_ref.api_version.as_deref(), Some("apps/v1"));
    let min = hpa.min_replicas.unwrap_or(1);
    assert!(min >= 1 && min <= hpa.max_replicas);
    let metrics = hpa.metrics.unwrap();
    assert_eq!(metrics.len(), 1);
    let cpu = metrics[0].resource.as_ref().expect("a resource metric");
    assert_eq!(
        (metrics[0].type_.as_str(), cpu.name.as_str()),
        ("Resource", "cpu")
    );
    assert_eq!(cpu.target.type_, "Utilization");
    let target = cpu.target.average_utilization.unwrap();
    assert!(target > 0 && target <= 100);

    // The disruption budget leaves room to drain a node.
    let pdb: PodDisruptionBudget = one(rel, "PodDisruptionBudget");
    let pdb = pdb.spec.unwrap();
    assert_eq!(labels(&pdb.selector.unwrap().match_labels), selector);
    match pdb.min_available.unwrap() {
        IntOrString::Int(n) => assert!(n < min, "minAvailable {n} < minReplicas {min}"),
        IntOrString::String(p) => panic!("minAvailable {p}: give a number"),
    }
}

/// The check itself: a key the types do not know is caught, with its path.
#[test]
fn a_misplaced_key_is_caught() {
    let doc: Vec<Value> = serde_saphyr::from_multiple(
        "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: x\nhandler: x\n\
         scheduling:\n  nodeSelectors:\n    a: b\n",
    )
    .unwrap();
    let e = std::panic::catch_unwind(|| typed::<RuntimeClass>("test", &doc[0])).unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains(".scheduling.nodeSelectors is not a field"),
        "{msg}"
    );
}
