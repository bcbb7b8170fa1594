//! Containment of symbolic links across a whole tree.
//!
//! Input: a small set of links, their paths and targets built from a few names, `..`, `.`, empty
//! components and an optional leading `/` (or a raw target). Links below other links are dropped,
//! as the unpacker never creates them.
//!
//! Asserts: no panic; when `check_all` accepts the set, no target starts with a Windows drive
//! (`C:` or `C:x`, absolute or drive-relative there), an independent resolver (recursive, over
//! the map) finds no escape, and neither does one that follows the links created on disk, nor
//! the kernel (`canonicalize`) when the target exists; when `check_all` says a link escapes, the
//! independent resolver agrees.
#![no_main]

use std::collections::HashMap;
use std::fs;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sea_payload::links::{self, LinkError, MAX_HOPS};
use sea_payload_fuzz::{Scratch, link_escapes};

const NAMES: &[&str] = &["a", "b", "c", "sub"];
const TARGET_PARTS: &[&str] = &["a", "b", "c", "sub", "..", ".", "", "C:", "c:x"];

#[derive(Arbitrary, Debug)]
struct Link {
    path: Vec<u8>,
    target: Vec<u8>,
    absolute: bool,
    raw: Option<String>,
}

impl Link {
    fn path(&self) -> Option<String> {
        let parts: Vec<&str> = self.path.iter().take(4).map(|b| NAMES[usize::from(*b) % NAMES.len()]).collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    fn target(&self) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let parts: Vec<&str> =
            self.target.iter().take(12).map(|b| TARGET_PARTS[usize::from(*b) % TARGET_PARTS.len()]).collect();
        let joined = parts.join("/");
        if self.absolute { format!("/{joined}") } else { joined }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Escape,
    Loop,
}

/// Resolves `target` from directory `dir`, following links recursively; returns where it ends.
fn resolve(
    links: &HashMap<String, String>,
    mut dir: Vec<String>,
    target: &str,
    hops: &mut usize,
) -> Result<Vec<String>, Outcome> {
    if target.starts_with('/') {
        return Err(Outcome::Escape);
    }
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                dir.pop().ok_or(Outcome::Escape)?;
            }
            name => {
                dir.push(name.to_owned());
                if let Some(next) = links.get(&dir.join("/")) {
                    *hops += 1;
                    if *hops > MAX_HOPS {
                        return Err(Outcome::Loop);
                    }
                    dir.pop();
                    dir = resolve(links, dir, next, hops)?;
                }
            }
        }
    }
    Ok(dir)
}

fn resolve_link(links: &HashMap<String, String>, path: &str) -> Result<Vec<String>, Outcome> {
    let dir: Vec<String> = path.split('/').map(str::to_owned).collect();
    resolve(links, dir[..dir.len() - 1].to_vec(), &links[path], &mut 1)
}

fuzz_target!(|input: Vec<Link>| {
    let mut map: HashMap<String, String> = HashMap::new();
    for link in input.iter().take(8) {
        let Some(path) = link.path() else { continue };
        let below_or_above =
            map.keys().any(|k| path.starts_with(&format!("{k}/")) || k.starts_with(&format!("{path}/")));
        if below_or_above || map.contains_key(&path) {
            continue;
        }
        map.insert(path, link.target());
    }
    match links::check_all(&map) {
        Ok(()) => {
            for target in map.values() {
                let first = target.split('/').find(|c| !c.is_empty() && *c != ".").unwrap_or_default().as_bytes();
                assert!(!(first.len() >= 2 && first[0].is_ascii_alphabetic() && first[1] == b':'), "{target:?}");
            }
            for path in map.keys() {
                assert_ne!(resolve_link(&map, path), Err(Outcome::Escape), "{path} escapes in {map:?}");
            }
            on_disk(&map);
        }
        Err((path, LinkError::Escapes { .. })) => {
            assert!(resolve_link(&map, &path).is_err(), "{path} said to escape but resolves inside in {map:?}");
        }
        Err(_) => {}
    }
});

/// Creates the links in a scratch directory and checks them there.
fn on_disk(map: &HashMap<String, String>) {
    let scratch = Scratch::new();
    for (path, target) in map {
        let full = scratch.out.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(target, &full).expect("symlink");
    }
    let root = fs::canonicalize(&scratch.out).expect("canonical out");
    for path in map.keys() {
        assert!(!link_escapes(&scratch.out, std::path::Path::new(path)), "{path} escapes on disk in {map:?}");
        if let Ok(real) = fs::canonicalize(scratch.out.join(path)) {
            assert!(real.starts_with(&root), "{path} resolves to {} in {map:?}", real.display());
        }
    }
    scratch.check();
}
