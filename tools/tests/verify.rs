//! The attestation verifier against fixtures made without the module (openssl and
//! hand-written DER, see `common/pki.rs`): what it accepts, and each way it refuses.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::Path;

use ferrohsm_tools::verify::{self, Check, Form, Inputs, Origin, Policy, csr, input};
use pki::{Ka, Pki};

fn inputs(attestation: Vec<u8>) -> Inputs {
    let p = Pki::get();
    Inputs {
        attestation: Some(attestation),
        chain: vec![p.read("chain.pem")],
        root: p.read("root.pem"),
        ..Inputs::default()
    }
}

fn fails(i: &Inputs, check: Check, needle: &str) -> verify::Failure {
    match verify::verify(i) {
        Ok(s) => panic!("verified, but {check} should fail:\n{}", s.report()),
        Err(f) => {
            assert_eq!(f.check, check, "{f}");
            assert!(f.to_string().contains(needle), "{f:?} lacks {needle:?}");
            f
        }
    }
}

#[test]
fn a_birth_certificate_verifies_and_says_what_it_claims() {
    let p = Pki::get();
    let cert = p.attest_cert("birth", "k1", &Ka::generated_p256(), "part", "");
    let s = verify::verify(&inputs(cert)).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(s.form, Form::Certificate);
    let c = &s.claims;
    assert_eq!(c.device.serial, "896a3b216d2db451");
    assert_eq!(c.device.protection, verify::Protection::Software);
    assert_eq!((c.partition.id, c.partition.label.as_str()), (0, "payments"));
    assert_eq!((c.key.class.as_str(), c.key.key_type.as_str()), ("private", "EC"));
    assert_eq!((c.key.bits, c.key.curve.as_deref()), (Some(256), Some("P-256")));
    assert_eq!(c.key.label, "mykey");
    assert_eq!(c.key.origin, Origin::Generated);
    assert_eq!(c.key.security.never_extractable, Some(true));
    assert_eq!(
        c.key.allowed_mechanisms.as_deref(),
        Some(&["CKM_ECDSA_SHA256".to_string(), "CKM_FERRO_KEY_ATTEST_CERT".to_string()][..])
    );
    assert_eq!(c.nonce, None);
    assert_eq!(s.public_key_info.as_deref(), Some(&p.spki("k1")[..]));
    assert_eq!(s.path.len(), 4, "{:?}", s.path);
    assert!(s.policy_failures.is_empty());
    let r = s.report();
    for want in ["protection:         software", "origin:             generated", "policy:             met", "mykey"] {
        assert!(r.contains(want), "{want:?} not in\n{r}");
    }
    // PEM works as well as DER.
    let pem = input::to_pem("CERTIFICATE", &p.read("birth.der"));
    verify::verify(&inputs(pem.into_bytes())).unwrap();
}

#[test]
fn the_nonce_must_be_the_expected_one() {
    let p = Pki::get();
    let ka = Ka { nonce: Some(vec![0x00, 0x11, 0x22, 0x33]), ..Ka::generated_p256() };
    let cert = p.attest_cert("nonce", "k1", &ka, "part", "");
    let mut i = inputs(cert);
    i.nonce = Some(vec![0x00, 0x11, 0x22, 0x33]);
    let s = verify::verify(&i).unwrap();
    assert!(s.nonce_checked);
    i.nonce = Some(vec![0xde, 0xad]);
    let f = fails(&i, Check::Nonce, "00112233, not the expected dead");
    assert!(f.summary.is_some(), "the claims are shown beside a nonce failure");
    // A birth certificate has no nonce.
    let mut i = inputs(p.attest_cert("nonce-birth", "k1", &Ka::generated_p256(), "part", ""));
    i.nonce = Some(vec![1]);
    fails(&i, Check::Nonce, "carries no nonce");
}

#[test]
fn a_tampered_certificate_fails_its_signature() {
    let p = Pki::get();
    let mut cert = p.attest_cert("tamper", "k1", &Ka::generated_p256(), "part", "");
    // Change the label inside the claims: "mykey" -> "mykez".
    let at = cert.windows(5).position(|w| w == b"mykey").unwrap();
    cert[at + 4] = b'z';
    fails(&inputs(cert), Check::Signature, "does not verify");
}

#[test]
fn a_wrong_root_fails_the_chain() {
    let p = Pki::get();
    let mut i = inputs(p.attest_cert("wrong-root", "k1", &Ka::generated_p256(), "part", ""));
    i.root = p.read("other-root.pem");
    fails(&i, Check::Chain, "neither the pinned root");
    // With the other device's own root in the chain, the message says so.
    i.chain.push(p.read("root.pem"));
    fails(&i, Check::Chain, "a root that is not the pinned root");
    // And no chain at all.
    let mut i = inputs(p.read("wrong-root.der"));
    i.chain.clear();
    fails(&i, Check::Chain, "pass the chain with --chain");
}

#[test]
fn the_request_key_must_be_the_attested_key() {
    let p = Pki::get();
    let mut i = inputs(p.attest_cert("csr-match", "k1", &Ka::generated_p256(), "part", ""));
    i.csr = Some(p.request("req-k1", "k1"));
    let s = verify::verify(&i).unwrap();
    assert_eq!(s.csr_subject.as_deref(), Some("/CN=app.example/O=Example"));
    // Another key's request: swapped public key.
    i.csr = Some(p.request("req-k2", "k2"));
    fails(&i, Check::KeyMatch, "not the attested key");
    // A request whose signature is broken is no proof of possession.
    let mut bad = p.request("req-bad", "k1");
    let n = bad.len();
    bad[n - 3] ^= 1;
    i.csr = Some(bad);
    fails(&i, Check::Csr, "not signed by its own key");
}

#[test]
fn an_imported_key_fails_the_default_policy() {
    let p = Pki::get();
    let ka = Ka { origin: 2, security: vec![(0, false), (1, true), (3, false), (4, false)], ..Ka::generated_p256() };
    let mut i = inputs(p.attest_cert("imported", "k1", &ka, "part", ""));
    let f = fails(&i, Check::Policy, "key.origin is imported");
    let msg = f.to_string();
    assert!(msg.contains("key.security.local is false"), "{msg}");
    assert!(msg.contains("never_extractable is false"), "{msg}");
    assert!(f.summary.unwrap().report().contains("NOT met"));
    i.policy = Policy::default().allow_imported();
    fails(&i, Check::Policy, "never_extractable is false");
    i.policy = Policy::default().allow_imported().allow_extractable();
    verify::verify(&i).unwrap();
}

#[test]
fn a_missing_claim_fails_the_policy() {
    let p = Pki::get();
    // never_extractable (tag 4) not claimed: unknown is not true.
    let ka = Ka { security: vec![(0, true), (1, true), (2, true), (3, false)], ..Ka::generated_p256() };
    let mut i = inputs(p.attest_cert("missing", "k1", &ka, "part", ""));
    fails(&i, Check::Policy, "key.security.never_extractable is not claimed (unknown)");
    i.policy = Policy::default().allow_extractable();
    verify::verify(&i).unwrap();
    // No security claims at all.
    let ka = Ka { security: vec![], ..Ka::generated_p256() };
    let i = inputs(p.attest_cert("missing-all", "k1", &ka, "part", ""));
    let f = fails(&i, Check::Policy, "local is not claimed");
    assert!(f.to_string().contains("sensitive is not claimed"), "{f}");
}

#[test]
fn an_expired_or_not_yet_valid_chain_fails() {
    let p = Pki::get();
    let mut i = inputs(p.attest_cert("expiry", "k1", &Ka::generated_p256(), "part", ""));
    i.at = Some(verify::parse_time("2090-01-01").unwrap());
    fails(&i, Check::Validity, "has expired at 2090-01-01T00:00:00Z");
    i.at = Some(verify::parse_time("2001-01-01T00:00:00Z").unwrap());
    fails(&i, Check::Validity, "is not valid yet");
    i.at = Some(verify::parse_time(&format!("@{}", 1_900_000_000)).unwrap());
    verify::verify(&i).unwrap();
}

#[test]
fn an_unknown_critical_extension_is_refused() {
    let p = Pki::get();
    let cert = p.attest_cert("critical", "k1", &Ka::generated_p256(), "part", "1.3.6.1.4.1.99999.1=critical,DER:0500");
    fails(&inputs(cert), Check::CriticalExtension, "1.3.6.1.4.1.99999.1");
    // The same extension, not critical, is fine.
    let cert = p.attest_cert("noncritical", "k1", &Ka::generated_p256(), "part", "1.3.6.1.4.1.99999.1=DER:0500");
    verify::verify(&inputs(cert)).unwrap();
}

#[test]
fn the_attestation_key_needs_our_purpose() {
    let p = Pki::get();
    let mut i = inputs(p.attest_cert("nopurpose", "k1", &Ka::generated_p256(), "part-np", ""));
    i.chain = vec![p.read("chain-np.pem")];
    fails(&i, Check::Purpose, "lacks the attestation purpose");
}

#[test]
fn claims_must_describe_the_certified_key() {
    let p = Pki::get();
    // Claims for an RSA key on a certificate of an EC key.
    let ka = Ka { key_type: 0, curve: None, bits: Some(2048), ..Ka::generated_p256() };
    fails(&inputs(p.attest_cert("mismatch", "k1", &ka, "part", "")), Check::KeyMatch, "claims say RSA");
    // RSA and Ed25519 keys, rightly described.
    let ka = Ka { key_type: 0, curve: None, bits: Some(2048), ..Ka::generated_p256() };
    let mut i = inputs(p.attest_cert("rsa", "rsa", &ka, "part", ""));
    i.csr = Some(p.request("req-rsa", "rsa"));
    verify::verify(&i).unwrap();
    let ka = Ka { key_type: 0x40, curve: Some(pki::ED25519_OID), bits: None, ..Ka::generated_p256() };
    let mut i = inputs(p.attest_cert("ed", "ed", &ka, "part", ""));
    i.csr = Some(p.request("req-ed", "ed"));
    let s = verify::verify(&i).unwrap();
    assert_eq!(s.claims.key.curve.as_deref(), Some("Ed25519"));
    // Claiming hardware is reported as it is (ferrohsm never does).
    let ka = Ka { protection: 1, ..Ka::generated_p256() };
    let s = verify::verify(&inputs(p.attest_cert("hw", "k1", &ka, "part", ""))).unwrap();
    assert_eq!(s.claims.device.protection, verify::Protection::Hardware);
}

#[test]
fn evidence_verifies_and_binds_to_its_key() {
    let p = Pki::get();
    let json = pki::evidence_json(&p.spki("k1"), Some("abcd"), "generated");
    let cms = p.evidence("ev-k1", &json);
    let mut i = Inputs { attestation: Some(cms), root: p.read("root.pem"), ..Inputs::default() };
    i.nonce = Some(vec![0xab, 0xcd]);
    i.csr = Some(p.request("req-ev-k1", "k1"));
    let s = verify::verify(&i).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(s.form, Form::Evidence);
    assert_eq!(s.path.len(), 3, "signer, device, root: {:?}", s.path);
    assert_eq!(s.claims.key.allowed_mechanisms.as_deref(), Some(&["CKM_ECDSA_SHA256".to_string()][..]));
    // Evidence for key 1 presented with key 2's request.
    i.csr = Some(p.request("req-ev-k2", "k2"));
    fails(&i, Check::KeyMatch, "not the attested key");
    // Imported, by evidence.
    let json = pki::evidence_json(&p.spki("k1"), None, "imported");
    let i = Inputs { attestation: Some(p.evidence("ev-imp", &json)), root: p.read("root.pem"), ..Inputs::default() };
    fails(&i, Check::Policy, "key.origin is imported");
    // Changed claims: the digest no longer matches.
    let json = pki::evidence_json(&p.spki("k1"), None, "generated");
    let mut cms = p.evidence("ev-tamper", &json);
    let at = cms.windows(5).position(|w| w == b"mykey").unwrap();
    cms[at + 4] = b'z';
    let i = Inputs { attestation: Some(cms), root: p.read("root.pem"), ..Inputs::default() };
    fails(&i, Check::Signature, "messageDigest");
    // Wrong root.
    let cms = p.read("ev-k1.p7");
    let i = Inputs { attestation: Some(cms), root: p.read("other-root.pem"), ..Inputs::default() };
    fails(&i, Check::Chain, "not the pinned root");
}

#[test]
fn a_missing_json_claim_is_reported_by_name() {
    let p = Pki::get();
    let json = pki::evidence_json(&p.spki("k1"), None, "generated").replace("\"partition\":", "\"partitionX\":");
    let i =
        Inputs { attestation: Some(p.evidence("ev-missing", &json)), root: p.read("root.pem"), ..Inputs::default() };
    fails(&i, Check::Claims, "the claim partition is missing");
}

/// Signs a request info with openssl, as `csr::build` asks.
fn build_request(p: &Pki, key: &str, attrs: Vec<x509_cert::attr::Attribute>) -> Vec<u8> {
    use der::Decode;
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(&p.spki(key)).unwrap();
    let subject = csr::parse_subject("/CN=app.example/O=Example").unwrap();
    csr::build(subject, spki, attrs, |tbs| -> Result<_, String> {
        let alg = spki::AlgorithmIdentifierOwned { oid: verify::oids::ECDSA_SHA256, parameters: None };
        Ok((alg, p.sign(key, tbs, "sha256")))
    })
    .unwrap()
}

#[test]
fn an_attested_request_carries_its_attestation() {
    let p = Pki::get();
    let cert = input::Cert::from_der(&p.attest_cert("in-csr", "k1", &Ka::generated_p256(), "part", "")).unwrap();
    let chain = input::certificates(&p.read("chain.pem")).unwrap();
    let attr = csr::attestation_attribute(&input::Attestation::Certificate(Box::new(cert)), &chain).unwrap();
    let req = build_request(p, "k1", vec![attr]);
    std::fs::write(p.path("attested-req.der"), &req).unwrap();
    // openssl accepts it and shows the attribute.
    pki::openssl(&p.dir, &["req", "-verify", "-noout", "-inform", "DER", "-in", "attested-req.der"]);
    let text = String::from_utf8(pki::openssl(
        &p.dir,
        &["req", "-text", "-noout", "-inform", "DER", "-in", "attested-req.der"],
    ))
    .unwrap();
    assert!(text.contains("1.2.840.113549.1.9.16.2.59"), "{text}");
    // The verifier takes the attestation and its chain out of the request.
    let i = Inputs { csr: Some(req.clone()), root: p.read("root.pem"), ..Inputs::default() };
    let s = verify::verify(&i).unwrap_or_else(|f| panic!("{f}"));
    assert!(s.from_request);
    assert_eq!(s.csr_subject.as_deref(), Some("/CN=app.example/O=Example"));
    // The attestation of key 1 in key 2's request.
    let cert = input::Cert::from_der(&p.read("in-csr.der")).unwrap();
    let attr = csr::attestation_attribute(&input::Attestation::Certificate(Box::new(cert)), &chain).unwrap();
    let req2 = build_request(p, "k2", vec![attr]);
    let i = Inputs { csr: Some(req2), root: p.read("root.pem"), ..Inputs::default() };
    fails(&i, Check::KeyMatch, "not the attested key");
    // Evidence in a request, with no certs in the bundle (the CMS has them).
    let json = pki::evidence_json(&p.spki("k1"), None, "generated");
    let attr = csr::attestation_attribute(&input::Attestation::Evidence(p.evidence("ev-in-csr", &json)), &[]).unwrap();
    let req3 = build_request(p, "k1", vec![attr]);
    let i = Inputs { csr: Some(req3), root: p.read("root.pem"), ..Inputs::default() };
    assert_eq!(verify::verify(&i).unwrap().form, Form::Evidence);
    // A request without the attribute and no attestation file.
    let i = Inputs { csr: Some(p.request("plain", "k1")), root: p.read("root.pem"), ..Inputs::default() };
    fails(&i, Check::Csr, "no id-aa-attestation");
}

#[test]
fn a_device_certificate_from_an_outside_ca() {
    let p = Pki::get();
    let now = std::time::SystemTime::now();
    let device_spki = pki::openssl(&p.dir, &["pkey", "-in", "device.key", "-pubout", "-outform", "DER"]);
    let chain = vec![p.read("ca.pem")];
    let path = verify::device_certificate(&p.read("ca-device.pem"), &chain, &device_spki, now)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(path.len(), 2);
    let fail = |cert: &str, spki: &[u8], chain: &[Vec<u8>], check: Check| {
        let f = verify::device_certificate(&p.read(cert), chain, spki, now).unwrap_err();
        assert_eq!(f.check, check, "{f}");
    };
    fail("ca-device-noeku.pem", &device_spki, &chain, Check::Purpose);
    fail("ca-device-pl0.pem", &device_spki, &chain, Check::BasicConstraints);
    fail("ca-device.pem", &p.spki("k1"), &chain, Check::KeyMatch);
    fail("ca-device.pem", &device_spki, &[], Check::Chain);
    // Attestations then chain to the outside CA (an RSA root) through the same
    // partition attestation certificate.
    p.attest_cert("via-ca", "k1", &Ka::generated_p256(), "part", "");
    let i = Inputs {
        attestation: Some(p.read("via-ca.der")),
        chain: vec![p.read("part.pem"), p.read("ca-device.pem")],
        root: p.read("ca.pem"),
        ..Inputs::default()
    };
    let s = verify::verify(&i).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(s.path.last().unwrap(), "\"Example Root\"");
    // The device's own root no longer vouches for that path.
    let i = Inputs { root: p.read("root.pem"), ..i };
    fails(&i, Check::Chain, "neither the pinned root");
}

// ---------------------------------------------------------------------------
// The command line.

fn ferrohsm(args: &[&str]) -> common::Run {
    let store = common::Store::new();
    store.run(args)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn attest_verify_exit_codes() {
    let p = Pki::get();
    p.attest_cert("cli-good", "k1", &Ka::generated_p256(), "part", "");
    let ka = Ka { origin: 2, security: vec![(0, false), (1, true), (3, false), (4, false)], ..Ka::generated_p256() };
    p.attest_cert("cli-imported", "k1", &ka, "part", "");
    let (root, chain) = (p.path("root.pem"), p.path("chain.pem"));
    let good = p.path("cli-good.der");
    let base = ["attest", "verify", path(&good), "--root", path(&root), "--chain", path(&chain)];

    let r = ferrohsm(&base);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("verified: the attestation chains to the pinned root"), "{r:?}");
    assert!(r.stdout.contains("unique id:          3e5d52476bb61a80814ac32d1fe18d81"), "{r:?}");

    let mut args = base.to_vec();
    args.extend(["--nonce", "00"]);
    let r = ferrohsm(&args);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("ferrohsm: NOT verified: nonce: the attestation carries no nonce"), "{r:?}");

    let mut args = base.to_vec();
    args.extend(["--at", "2090-01-01"]);
    let r = ferrohsm(&args);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("NOT verified: validity:"), "{r:?}");

    let other = p.path("other-root.pem");
    let r = ferrohsm(&["attest", "verify", path(&good), "--root", path(&other), "--chain", path(&chain)]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("NOT verified: chain:"), "{r:?}");

    let imported = p.path("cli-imported.der");
    let r = ferrohsm(&["attest", "verify", path(&imported), "--root", path(&root), "--chain", path(&chain)]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("NOT verified: policy: key.origin is imported"), "{r:?}");
    assert!(r.stdout.contains("origin:             imported"), "the summary is printed: {r:?}");
    let r = ferrohsm(&[
        "attest",
        "verify",
        path(&imported),
        "--root",
        path(&root),
        "--chain",
        path(&chain),
        "--allow-imported",
        "--allow-extractable",
    ]);
    assert_eq!(r.code, Some(0), "{r:?}");

    let req = p.path("cli-req-k2.der");
    p.request("cli-req-k2", "k2");
    let r = ferrohsm(&[
        "attest",
        "verify",
        path(&good),
        "--root",
        path(&root),
        "--chain",
        path(&chain),
        "--csr",
        path(&req),
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("NOT verified: key match:"), "{r:?}");

    // Usage: no root, a bad nonce, a bad time.
    for args in [
        vec!["attest", "verify", path(&good)],
        vec!["attest", "verify", path(&good), "--root", path(&root), "--nonce", "xyz"],
        vec!["attest", "verify", path(&good), "--root", path(&root), "--at", "tomorrow"],
        vec!["attest", "verify", "--root", path(&root)],
    ] {
        let r = ferrohsm(&args);
        assert_eq!(r.code, Some(2), "{r:?}");
    }
}
