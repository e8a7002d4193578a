//! The deployment files agree with the code. No container engine runs here, so instead of
//! starting the image this test reads docker/Dockerfile, compose.yaml and docker/k8s/*.yaml and
//! fails if a probe path, a port or an environment variable name disagrees with what the binary
//! serves and reads. (`cargo xtask test` also validates the files against their schemas.)

use std::collections::BTreeSet;

use clap::CommandFactory;
use recon_api::{LIVE_PATH, METRICS_PATH, READY_PATH};
use recon_startup::config::DEFAULT_PORT;
use serde_yaml_ng::Value;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}"))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn yaml_documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("{path}: {error}"))
        })
        .collect()
}

/// Every environment variable the binary reads: the clap settings plus RUST_LOG.
fn known_variables() -> BTreeSet<String> {
    let command = recon_startup::cli::Cli::command();
    let mut names: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    names.insert("RUST_LOG".to_owned());
    names
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut current = value;
    for key in path {
        current = match key.parse::<usize>() {
            Ok(index) => &current[index],
            Err(_) => &current[*key],
        };
    }
    current
        .as_str()
        .unwrap_or_else(|| panic!("no string at {path:?}"))
}

#[test]
fn the_dockerfile_runs_recon_as_pid_1_unprivileged_with_its_healthcheck() {
    let dockerfile = read("docker/Dockerfile");
    let instruction = |name: &str| -> Vec<String> {
        dockerfile
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_owned())
            .collect()
    };
    let entrypoint = instruction("ENTRYPOINT ");
    assert_eq!(entrypoint.len(), 1);
    assert!(
        entrypoint[0].starts_with('[') && entrypoint[0].contains("recon"),
        "ENTRYPOINT must be exec form: {entrypoint:?}"
    );
    let healthcheck = instruction("HEALTHCHECK ");
    assert!(
        healthcheck.len() == 1
            && healthcheck[0].contains(r#"CMD ["/usr/local/bin/recon", "healthcheck"]"#),
        "{healthcheck:?}"
    );
    let instructions: String = dockerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(!instructions.contains("curl"), "the image needs no curl");
    assert_eq!(instruction("EXPOSE "), vec![DEFAULT_PORT.to_string()]);
    let user = instruction("USER ");
    assert!(
        user.len() == 1 && !user[0].starts_with("root") && !user[0].starts_with('0'),
        "{user:?}"
    );
    // ENV keys must be variables the binary reads. Continuation lines are joined first.
    let known = known_variables();
    let logical = dockerfile.replace("\\\n", " ");
    let env_block: String = logical
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ENV "))
        .collect::<Vec<_>>()
        .join(" ");
    for pair in env_block
        .split_whitespace()
        .filter(|word| word.contains('='))
    {
        let name = pair.split('=').next().unwrap_or_default();
        if name != "RECON_GIT_COMMIT" {
            assert!(
                known.contains(name),
                "Dockerfile sets {name}, which recon does not read"
            );
        }
    }
    assert!(env_block.contains(&format!("PORT={DEFAULT_PORT}")));
}

#[test]
fn compose_waits_for_healthy_dependencies_and_matches_the_binary() {
    let compose = &yaml_documents("compose.yaml")[0];
    let services = &compose["services"];
    for service in ["postgres", "redis", "recon"] {
        assert!(
            services[service]["healthcheck"]["test"].is_sequence(),
            "{service} needs a healthcheck"
        );
    }
    let recon = &services["recon"];
    for dependency in ["postgres", "redis"] {
        assert_eq!(
            str_at(recon, &["depends_on", dependency, "condition"]),
            "service_healthy"
        );
    }
    let test: Vec<&str> = recon["healthcheck"]["test"]
        .as_sequence()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(test, vec!["CMD", "/usr/local/bin/recon", "healthcheck"]);
    let known = known_variables();
    let environment = recon["environment"].as_mapping().expect("environment map");
    for key in environment.keys() {
        let name = key.as_str().expect("string key");
        assert!(
            known.contains(name),
            "compose sets {name}, which recon does not read"
        );
    }
    for secret in ["JWT_SECRET", "JWT_REFRESH_SECRET", "CSRF_SECRET"] {
        let value = str_at(recon, &["environment", secret]);
        assert!(
            value.starts_with(&format!("${{{secret}:?")),
            "{secret} must come from the environment, never a literal: {value}"
        );
    }
    assert_eq!(
        str_at(recon, &["environment", "PORT"]),
        DEFAULT_PORT.to_string()
    );
    let ports: Vec<&str> = recon["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ports
            .iter()
            .any(|p| p.ends_with(&format!(":{DEFAULT_PORT}"))),
        "{ports:?}"
    );
    // compose must not SIGKILL before the graceful shutdown can finish.
    let grace_ms: u64 = str_at(recon, &["environment", "RECON_SHUTDOWN_GRACE_MS"])
        .parse()
        .expect("number");
    let drain_ms: u64 = str_at(recon, &["environment", "RECON_SHUTDOWN_DRAIN_MS"])
        .parse()
        .expect("number");
    let stop: u64 = str_at(recon, &["stop_grace_period"])
        .trim_end_matches('s')
        .parse()
        .expect("seconds");
    assert!(
        stop * 1000 >= drain_ms + grace_ms + 2000,
        "stop_grace_period {stop}s is shorter than drain + grace"
    );
}

#[test]
fn the_kubernetes_probes_ports_and_shutdown_budget_match_the_binary() {
    let deployment = &yaml_documents("docker/k8s/deployment.yaml")[0];
    assert_eq!(str_at(deployment, &["kind"]), "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let port = &container["ports"][0];
    assert_eq!(
        port["containerPort"].as_u64(),
        Some(u64::from(DEFAULT_PORT))
    );
    let port_name = str_at(port, &["name"]);
    for (probe, path) in [
        ("livenessProbe", LIVE_PATH),
        ("readinessProbe", READY_PATH),
        ("startupProbe", READY_PATH),
    ] {
        assert_eq!(
            str_at(container, &[probe, "httpGet", "path"]),
            path,
            "{probe}"
        );
        assert_eq!(
            str_at(container, &[probe, "httpGet", "port"]),
            port_name,
            "{probe} port"
        );
    }
    let known = known_variables();
    let env = container["env"].as_sequence().expect("env list");
    let value_of = |name: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .and_then(|e| e["value"].as_str())
    };
    for entry in env {
        let name = str_at(entry, &["name"]);
        assert!(
            known.contains(name),
            "the Deployment sets {name}, which recon does not read"
        );
    }
    assert_eq!(value_of("PORT"), Some(DEFAULT_PORT.to_string().as_str()));
    let pre_stop: u64 = container["lifecycle"]["preStop"]["exec"]["command"][1]
        .as_str()
        .expect("sleep seconds")
        .parse()
        .expect("number");
    let drain: u64 = value_of("RECON_SHUTDOWN_DRAIN_MS")
        .expect("drain")
        .parse()
        .expect("number");
    let grace: u64 = value_of("RECON_SHUTDOWN_GRACE_MS")
        .expect("grace")
        .parse()
        .expect("number");
    let budget = pre_stop * 1000 + drain + grace + 7000; // +5 s WebSocket close, +2 s workers
    let termination = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(
        budget <= termination * 1000,
        "shutdown budget {budget} ms exceeds terminationGracePeriodSeconds {termination}"
    );
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(str_at(annotations, &["prometheus.io/path"]), METRICS_PATH);
    assert_eq!(
        str_at(annotations, &["prometheus.io/port"]),
        DEFAULT_PORT.to_string()
    );

    let service = &yaml_documents("docker/k8s/service.yaml")[0];
    assert_eq!(
        str_at(service, &["spec", "ports", "0", "targetPort"]).to_owned(),
        port_name
    );
}

#[test]
fn the_prometheus_scrape_job_uses_the_metrics_path() {
    let config_map = &yaml_documents("docker/k8s/prometheus-scrape.yaml")[0];
    let scrape: Value = serde_yaml_ng::from_str(str_at(config_map, &["data", "recon-scrape.yml"]))
        .expect("embedded YAML");
    assert_eq!(
        str_at(&scrape, &["scrape_configs", "0", "metrics_path"]),
        METRICS_PATH
    );
}
