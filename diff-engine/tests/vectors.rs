//! RFC 8785 reference vectors and the JSON_checker suite.
#![allow(clippy::unwrap_used)] // In tests a panic is the failure report.

use std::fs;
use std::path::{Path, PathBuf};

use diff_engine::{canonical_digest, canonicalize};

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn jcs_vectors_byte_for_byte() {
    let inputs = json_files(&fixtures("jcs/input"));
    assert_eq!(inputs.len(), 6);
    for input in inputs {
        let name = input.file_name().unwrap();
        let want = fs::read(fixtures("jcs/output").join(name)).unwrap();
        let got = canonicalize(&fs::read(&input).unwrap()).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{}",
            input.display()
        );
        // Canonical output is a fixed point, and has the digest of its input. (The digest is
        // over a stream equivalent to the canonical text, not blake3 of the text: see
        // tests/digest.rs.)
        assert_eq!(canonicalize(&got).unwrap(), got);
        assert_eq!(
            canonical_digest(&want).unwrap(),
            canonical_digest(&fs::read(&input).unwrap()).unwrap()
        );
    }
}

#[test]
fn jsonchecker_pass_and_fail() {
    let files = json_files(&fixtures("jsonchecker"));
    let (mut passed, mut failed) = (0, 0);
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let result = canonicalize(&fs::read(&file).unwrap());
        // *_EXCLUDE files are accepted on purpose: see tests/fixtures/jsonchecker/NOTICE.
        if name.starts_with("pass") || name.ends_with("_EXCLUDE.json") {
            assert!(result.is_ok(), "{name} rejected: {:?}", result.err());
            passed += 1;
        } else {
            assert!(result.is_err(), "{name} accepted");
            failed += 1;
        }
    }
    assert_eq!((passed, failed), (5, 31));
}
