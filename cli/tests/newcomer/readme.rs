//! The README's "Your first hour" block, exactly as printed there (with a
//! free port for 5077).

use std::path::Path;

use crate::support::*;

/// The first ```sh block after the "### Your first hour" heading.
fn first_hour_block() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = &readme[readme.find("### Your first hour").expect("the section")..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].to_string()
}

#[test]
fn readme_first_hour_runs_as_printed() {
    let m = Machine::new();
    let me = m.user("newcomer");
    me.image();
    let port = free_port().to_string();
    let block = first_hour_block();
    assert!(block.contains("--port 5077"), "{block}");
    let script = block.replace("5077", &port);
    let _cleanup = Down {
        user: &me,
        lab: m.path().join("work/mylab"),
    };
    let work = m.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = me.sh(&work, &format!("set -x\n{script}")).ok();
    let all = out.all();
    let lab = work.join("mylab");

    // init: a git repository whose lab.yaml names the repository.
    let yaml = std::fs::read_to_string(lab.join("lab.yaml")).unwrap();
    assert!(
        yaml.contains("git:\n  repoURL: https://github.com/me/mylab.git\n  revision: main"),
        "{yaml}"
    );
    // render: a complete GitOps tree, committed and pushed.
    for f in [
        "apps/root.yaml",
        "apps/argocd/registry.yaml",
        "apps/registry/deployment.yaml",
    ] {
        assert!(lab.join(f).is_file(), "render wrote no {f}:\n{all}");
    }
    assert!(all.contains("next: `git add -A && git commit -m render && git push -u origin main`; Argo CD syncs it once it knows the root app (the first time: `kubectl apply -f apps/root.yaml`)"), "{all}");
    let pushed = me.sh(
        &m.path().join("remote/mylab.git"),
        "git ls-tree -r --name-only main",
    );
    assert!(pushed.ok().stdout.contains("apps/root.yaml"));
    // verify push with no flags found `up`'s registry, then by address.
    let url = format!("https://127.0.0.1:{port}");
    assert!(
        all.contains(&format!(
            "note: verifying the registry `labctl up` runs for this lab, {url}"
        )),
        "{all}"
    );
    assert_eq!(
        all.matches(&format!("verify push {url}")).count(),
        3,
        "up, verify push, verify push --registry:\n{all}"
    );
    assert_eq!(
        all.matches("as admin (lab.yaml, secret registry/admin)")
            .count(),
        3,
        "{all}"
    );
    assert!(all.contains("stopped labreg"), "{all}");
    // Test images: deletes are off in a new lab, so each run replaced the
    // one tag instead of adding another.
    assert!(
        all.contains("labctl/verify:latest stays, replaced by the next run"),
        "{all}"
    );
    let tags =
        lab.join(".lab/registry/docker/registry/v2/repositories/labctl/verify/_manifests/tags");
    assert_eq!(names(&tags), vec!["latest"], "{}", tags.display());
    let demo = lab.join(".lab/registry/docker/registry/v2/repositories/demo/_manifests/tags");
    assert_eq!(names(&demo), vec!["1"]);
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
