//! The traps of a newcomer's first hour that need no running registry:
//! each message, and its advice run from that state to success.

use crate::support::*;

#[test]
fn a_new_laptop_without_a_key_is_told_whose_key_opens_the_lab() {
    let m = Machine::new();
    let owner = m.user("owner");
    let lab = m.new_lab(&owner, "mylab");
    let owner_key = owner.recipient();
    let laptop = m.user("laptop");
    laptop
        .sh(
            &laptop.home,
            "git clone -q https://github.com/me/mylab.git mylab",
        )
        .ok();
    let clone = laptop.home.join("mylab");

    // No key at all: the lab's recipient and every way to a key.
    let out = laptop.sh(&clone, "labctl render").fails();
    let keys = laptop.home.join(".config/labctl/age/keys.txt");
    for want in [
        "no age identity found",
        &format!("this lab's secrets are encrypted to {owner_key}"),
        "point LABCTL_AGE_KEY_FILE at its file",
        &format!("or put it in {}", keys.display()),
        "labctl secrets rekey",
    ] {
        assert!(out.stderr.contains(want), "{want:?} in:\n{}", out.stderr);
    }
    // Its advice: `labctl init` here makes the key and leaves the lab alone.
    let init = out.advice("otherwise run");
    assert_eq!(init, "labctl init");
    let out = laptop.sh(&clone, &init).ok();
    let new_key = laptop.recipient();
    assert!(
        out.stderr.contains(&format!("your public key: {new_key}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(&owner_key), "{}", out.stderr);
    assert_eq!(laptop.sh(&clone, "git status --porcelain").ok().stdout, "");

    // A key that is not a recipient yet: named, with the way to be added.
    let out = laptop.sh(&clone, "labctl render").fails();
    for want in [
        format!("(public key {new_key}) is not a recipient of this lab"),
        format!("encrypted to {owner_key}"),
        format!(
            "add {new_key} to secrets.recipients in lab.yaml and ask a recipient to run `labctl secrets rekey`"
        ),
    ] {
        assert!(out.stderr.contains(&want), "{want:?} in:\n{}", out.stderr);
    }
    // Doing so: the laptop adds its key, the owner rekeys, the laptop renders.
    laptop
        .sh(
            &clone,
            &format!(
                "sed -i 's|^  recipients:$|  recipients:\\n    - {new_key}|' lab.yaml \
                 && git commit -qam 'add my key' && git push -q"
            ),
        )
        .ok();
    owner
        .sh(
            &lab,
            "git pull -q && labctl secrets rekey && git commit -qam rekey && git push -q",
        )
        .ok();
    let out = laptop
        .sh(
            &clone,
            "git pull -q && labctl render --check && labctl secrets get registry/admin",
        )
        .ok();
    let theirs = owner
        .sh(&lab, "labctl secrets get registry/admin")
        .ok()
        .stdout;
    assert_eq!(out.stdout, theirs);
}

#[test]
fn init_without_a_repository_makes_git_and_render_says_what_argo_cd_lacks() {
    let m = Machine::new();
    let me = m.user("me");
    let out = me.sh(&me.home, "labctl init lab2").ok();
    assert!(
        out.stderr.contains("initialised a git repository"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("lab.yaml's git: is commented out"),
        "{}",
        out.stderr
    );
    let next = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("next: "))
        .unwrap();
    assert_eq!(
        next,
        "cd lab2 && labctl secrets set registry/admin --generate && labctl certs && labctl validate"
    );
    me.sh(&me.home, next).ok();
    let lab = me.home.join("lab2");
    me.sh(&lab, "labctl sealing init").ok();

    // render: what Argo CD lacks, and a git step that works with no remote.
    let out = me.sh(&lab, "labctl render").ok();
    assert!(
        out.stderr.contains(
            "apps/ holds no argocd/ apps and no root.yaml because lab.yaml has no git: section"
        ),
        "{}",
        out.stderr
    );
    assert!(!lab.join("apps/root.yaml").exists());
    let push = out.advice("next:");
    assert_eq!(
        push,
        "git add -A && git commit -m render && git remote add origin URL && git push -u origin main"
    );
    // The help's git: block, with the user's repository, then render again.
    let block: String = out
        .stderr
        .lines()
        .skip_while(|l| !l.contains("help: add to lab.yaml"))
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    assert!(block.starts_with("git:\n  repoURL: "), "{block}");
    let block = block.replace(
        "https://github.com/me/homelab.git",
        "https://github.com/me/lab2.git",
    );
    let yaml = std::fs::read_to_string(lab.join("lab.yaml")).unwrap();
    std::fs::write(lab.join("lab.yaml"), format!("{yaml}{block}")).unwrap();
    let out = me.sh(&lab, "labctl render").ok();
    assert!(
        lab.join("apps/root.yaml").is_file() && lab.join("apps/argocd/registry.yaml").is_file()
    );
    assert!(
        out.stderr.contains("`kubectl apply -f apps/root.yaml`"),
        "{}",
        out.stderr
    );
    m.remote("lab2");
    me.sh(&lab, &push.replace("URL", "https://github.com/me/lab2.git"))
        .ok();

    // A lab folder outside git: render's next step makes the repository.
    me.sh(&lab, "rm -rf .git apps").ok();
    let out = me.sh(&lab, "labctl render").ok();
    let git = out.advice("keep the lab in git");
    assert!(git.starts_with("git init -b main"), "{git}");
    me.sh(&lab, &git).ok();
    me.sh(&lab, "git log --oneline | grep -q 'my lab'").ok();
}

#[test]
fn validate_reports_a_key_typo_and_a_missing_secret_in_one_pass() {
    let (_m, me, lab) = one_user_lab();
    me.sh(
        &lab,
        "sed -i -e 's/^  replicas: 1$/  replica: 1/' \
         -e 's|^  users:$|  users:\\n    bob:\\n      password: secret:registry/bob|' lab.yaml",
    )
    .ok();
    let out = me.sh(&lab, "labctl validate").fails();
    for want in [
        "did you mean \"replicas\"?",
        "secret \"registry/bob\" does not exist",
        "lab.yaml: 2 problems",
    ] {
        assert!(out.stderr.contains(want), "{want:?} in:\n{}", out.stderr);
    }
    // Both fixes, as the help lines give them.
    let create = out.advice("create it with");
    assert_eq!(create, "labctl secrets set registry/bob --generate");
    me.sh(&lab, &create).ok();
    me.sh(&lab, "sed -i 's/^  replica: 1$/  replicas: 1/' lab.yaml")
        .ok();
    me.sh(&lab, "labctl validate").ok();

    // A new host: the certificate stage says the certificate does not fit.
    me.sh(
        &lab,
        "sed -i 's/^  host: registry.home.arpa$/  host: reg.home.arpa/' lab.yaml",
    )
    .ok();
    let out = me.sh(&lab, "labctl validate").fails();
    assert!(
        out.stderr
            .contains("registry.expose.tls is self-signed, but certs/reg.home.arpa.crt"),
        "{}",
        out.stderr
    );
    let certs = out.advice("help: run");
    assert_eq!(certs, "labctl certs");
    me.sh(&lab, &certs).ok();
    me.sh(&lab, "labctl validate").ok();
}

#[test]
fn a_render_error_is_printed_once_and_its_fix_works() {
    let (_m, me, lab) = one_user_lab();
    me.sh(&lab, "echo garbage > secrets/registry/admin.age")
        .ok();
    let out = me.sh(&lab, "labctl render").fails();
    assert_eq!(
        out.stderr.matches("cannot decrypt").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.matches("help:").count(), 1, "{}", out.stderr);
    let fix = out.advice("restore it from git");
    assert!(fix.starts_with("git checkout -- "), "{fix}");
    me.sh(&lab, &fix).ok();
    me.sh(&lab, "labctl render --check").ok();
}
