//! The traps around `labctl up`, `down` and `verify push`: each message,
//! and its advice run from that state to success.

use crate::support::*;

#[test]
fn down_outside_the_lab_names_it_and_the_advice_stops_it() {
    let m = Machine::new();
    let me = m.user("me");
    let guard = m.new_lab_stopped_after(&me, "mylab");
    let lab = guard.lab.clone();
    let port = free_port();
    me.sh(&lab, &format!("labctl up --detach --port {port}"))
        .ok();

    let out = me.sh(&me.home, "labctl down").fails();
    assert!(
        out.stderr
            .contains("lab.yaml not found, so there is no lab here to stop"),
        "{}",
        out.stderr
    );
    let line = format!("labctl -f {}/lab.yaml down", lab.display());
    assert!(out.stderr.contains(&line), "{line:?} in:\n{}", out.stderr);
    let out = me.sh(&me.home, &line).ok();
    assert!(out.stderr.contains("stopped labreg"), "{}", out.stderr);

    // Nothing runs now: still an error, with the way to name a lab.
    let out = me.sh(&me.home, "labctl down").fails();
    assert!(
        out.stderr.contains("`labctl -f PATH/lab.yaml down`"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_push_after_up_and_after_down() {
    let m = Machine::new();
    let me = m.user("me");
    let guard = m.new_lab_stopped_after(&me, "mylab");
    let lab = guard.lab.clone();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");

    // Nothing listens: the fix starts the lab's registry, not a pod.
    let out = me
        .sh(&lab, &format!("labctl verify push --registry {addr}"))
        .fails();
    assert!(out.all().contains("connection-refused"), "{}", out.all());
    assert!(!out.all().contains("kubectl"), "{}", out.all());
    let fix = out.advice("start the lab's registry with");
    assert_eq!(fix, format!("labctl up --detach --port {port}"));
    me.sh(&lab, &fix).ok();
    let out = me.sh(&lab, "labctl verify push").ok();
    assert!(
        out.all().contains(&format!("verify push https://{addr}")),
        "{}",
        out.all()
    );

    // An empty password on stdin: the way to pipe it, not `--generate`.
    let out = me
        .sh(
            &lab,
            "labctl verify push --user admin --password-stdin < /dev/null",
        )
        .fails();
    assert!(
        out.stderr.contains("the password read from stdin is empty"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("--generate"), "{}", out.stderr);
    let fix = out.advice("e.g.");
    me.sh(&lab, &fix).ok();

    // A wrong password: labreg's log names the user, never the password.
    me.sh(
        &lab,
        "printf %s wrong-pass-4711 | labctl verify push --user admin --password-stdin",
    )
    .fails();
    let log = std::fs::read_to_string(lab.join(".lab/log/labreg.log")).unwrap();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("failed login")).collect();
    assert!(!failed.is_empty(), "{log}");
    // labctl up's config logs JSON.
    assert!(
        failed.iter().all(|l| l.contains(r#""user":"admin""#)),
        "{failed:?}"
    );
    assert!(!log.contains("wrong-pass-4711"));

    // The port is taken by this lab's `up`: another lab is told a free
    // port and how to stop the one holding it.
    let other_guard = m.new_lab_stopped_after(&me, "other");
    let other = other_guard.lab.clone();
    let out = me
        .sh(&other, &format!("labctl up --detach --port {port}"))
        .fails();
    assert!(
        out.stderr
            .contains(&format!("port {port} on 127.0.0.1 is already in use"))
    );
    assert!(!out.stderr.contains("scripts/run.sh"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("labctl -f {}/lab.yaml down", lab.display())),
        "{}",
        out.stderr
    );
    let fix = out.advice("choose another port:");
    assert!(fix.starts_with("labctl up --detach --port "), "{fix}");
    me.sh(&other, &fix).ok();
}
