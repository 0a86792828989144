//! `rediss://`: Redis over TLS, with a private CA given by `TROLLEY_REDIS_CA_FILE`.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use libtest_mimic::Trial;
use reqwest::StatusCode;

use crate::helpers::{Backend, Children, TestApp, eventually, free_port, quantity_of, settings};

pub fn trials() -> Vec<Trial> {
    tests![a_rediss_url_with_a_private_ca_serves_carts_and_an_untrusted_server_is_refused,]
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, and a server certificate it signed for 127.0.0.1.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=trolley test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

async fn a_rediss_url_with_a_private_ca_serves_carts_and_an_untrusted_server_is_refused() {
    let has_openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_openssl {
        eprintln!("skipped: needs the openssl command to make test certificates");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    make_certificates(dir.path());
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(dir.path())
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let _redis = Children(vec![child]);
    let listening = eventually(Duration::from_secs(10), || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert!(listening, "TLS redis-server did not start");

    let mut trusted = settings(Backend::Embedded, None);
    trusted.redis.url = Some(format!("rediss://127.0.0.1:{port}"));
    trusted.redis.ca_file = Some(dir.path().join("ca.pem"));
    let app = TestApp::spawn(trusted).await;
    let mut visitor = app.browser();
    visitor.add(42, 2).await;
    visitor.add(42, 1).await;
    assert_eq!(quantity_of(&visitor.cart().await, 42), 3);
    let ready = reqwest::get(format!("{}/readyz", app.admin))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);

    // The same server is not trusted through the system roots.
    let mut untrusted = settings(Backend::Embedded, None);
    untrusted.redis.url = Some(format!("rediss://127.0.0.1:{port}"));
    let app = TestApp::spawn(untrusted).await;
    let ready = reqwest::get(format!("{}/readyz", app.admin))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let reply = app
        .browser()
        .post("/api/cart/add", r#"{"productId": 42, "quantity": 1}"#)
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}
