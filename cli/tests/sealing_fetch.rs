//! `labctl sealing fetch-cert` through the real kubectl against a fake API
//! server (no Kubernetes API server can run here): the fake speaks HTTP and
//! answers the service-proxy path kubeseal uses with a certificate.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::render::{lab, nodeport_self_signed};

#[test]
fn fetch_cert_gets_the_controller_certificate_through_the_api_server() {
    let lab = lab(&nodeport_self_signed());
    let cert_path = lab.root().join("certs/sealing.crt");
    let pem = std::fs::read_to_string(&cert_path).unwrap();
    std::fs::remove_file(&cert_path).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (seen2, body) = (seen.clone(), pem.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            seen2.lock().unwrap().push(path.clone());
            let (status, text) = if path
                == "/api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:/proxy/v1/cert.pem"
            {
                ("200 OK", body.clone())
            } else {
                ("404 Not Found", "{}".to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    let kubeconfig = lab.dir.path().join("home/kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    common::tool("kubectl");
    let out = lab
        .cmd()
        .env("KUBECONFIG", &kubeconfig)
        .args(["sealing", "fetch-cert"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\nrequests: {:?}",
        String::from_utf8_lossy(&out.stderr),
        seen.lock().unwrap()
    );
    assert_eq!(std::fs::read_to_string(&cert_path).unwrap(), pem);
    lab.cmd().arg("render").assert().success();
}
