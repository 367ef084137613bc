//! Tests of the attestation formats, checked with openssl: a real chain made with
//! each provider's keys, verified by `openssl verify`, `openssl cms -verify` and
//! `openssl req -verify`; the claims round-trip and match the doc's JSON.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cryptoki_sys::*;
use der::DateTime;

use super::claims::*;
use super::x509::{self, Issuer, Profile, Subject};
use super::{EcSigner, Signer, cms, ecdsa_p1363_to_der, oid};
use crate::crypto::ec::{Curve, EcSigningKey};
use crate::crypto::{Provider, available, select};
use crate::mechanism::ec::params::spki;

const DEVICE: &str = "896a3b216d2db451";
const PARTITION: &str = "bfa711959c35c0dd";

/// A key pair of a provider, with its SubjectPublicKeyInfo.
struct Key {
    curve: Curve,
    signing: Box<dyn EcSigningKey>,
    spki: Vec<u8>,
}

impl Key {
    fn new(p: &dyn Provider, curve: Curve) -> Self {
        let (private, public) = p.ec_generate(curve).unwrap();
        Key { curve, signing: p.ec_signing_key(curve, &private).unwrap(), spki: spki(curve, &public).unwrap() }
    }

    fn signer<'a>(&'a self, p: &'a dyn Provider) -> EcSigner<'a> {
        EcSigner::new(p, &*self.signing, self.curve).unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn serial(i: u8) -> [u8; 16] {
    // Half of them with the top bit set: still positive (a leading zero in DER).
    let mut s = [0u8; 16];
    getrandom::fill(&mut s).unwrap();
    s[0] = if i.is_multiple_of(2) { s[0] | 0x80 } else { s[0] & 0x7f };
    s
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Writes `der` as `name.der` and `name.pem` (through openssl).
fn write_cert(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    std::fs::write(dir.join(format!("{name}.der")), der).unwrap();
    let o = openssl(dir, &["x509", "-inform", "DER", "-in", &format!("{name}.der"), "-out", &format!("{name}.pem")]);
    assert!(o.status.success(), "openssl reads {name}: {}", text(&o));
    dir.join(format!("{name}.pem"))
}

fn x509_text(dir: &Path, name: &str) -> String {
    let o = openssl(dir, &["x509", "-in", &format!("{name}.pem"), "-noout", "-text"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn verify(dir: &Path, leaf: &str, untrusted: &str) {
    for strict in [false, true] {
        let mut args = vec!["verify", "-CAfile", "root.pem"];
        if !untrusted.is_empty() {
            args.extend(["-untrusted", untrusted]);
        }
        if strict {
            args.push("-x509_strict");
        }
        let leaf = format!("{leaf}.pem");
        args.push(&leaf);
        let o = openssl(dir, &args);
        assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
        assert!(text(&o).contains(&format!("{leaf}: OK")), "{}", text(&o));
    }
}

/// The claims of the doc's JSON example (docs/attestation.md, "The JSON claims"): the
/// evidence the module made for an AES key in a real run, which the doc shows.
fn doc_example_claims() -> KeyAttestation {
    let at = |y, mo, d, h, mi, s| {
        let secs = DateTime::new(y, mo, d, h, mi, s).unwrap().unix_duration().as_secs();
        time(secs).unwrap()
    };
    KeyAttestation {
        version: VERSION,
        nonce: Some(octets(&[0x00, 0x11, 0x22, 0x33]).unwrap()),
        time: at(2026, 11, 22, 13, 32, 25),
        device: DeviceClaims {
            serial: "9313855f88c33bd2".into(),
            software: "ferrohsm".into(),
            version: "0.1.0".into(),
            provider: "aws-lc".into(),
            protection: Protection::Software,
        },
        partition: PartitionClaims {
            id: 0,
            serial: "55f3888eba521a69".into(),
            label: "payments".into(),
            policy: PolicyClaims {
                allow_export: true,
                key_invalidation: false,
                read_only: false,
                max_pin_failures: 10,
                min_pin_len: 4,
            },
        },
        key: KeyClaims {
            class: CKO_SECRET_KEY,
            key_type: CKK_AES,
            bits: Some(256),
            curve: None,
            id: octets(&[0x02]).unwrap(),
            label: "kek".into(),
            unique_id: "71ecb779499b96402ad41f3e933c9e3d".into(),
            origin: Origin::Generated,
            created: Some(at(2026, 11, 22, 13, 32, 24)),
            security: SecurityClaims {
                local: Some(true),
                sensitive: Some(true),
                always_sensitive: Some(true),
                extractable: Some(false),
                never_extractable: Some(true),
                modifiable: Some(true),
                private: Some(true),
            },
            usage: UsageClaims {
                encrypt: Some(true),
                decrypt: Some(true),
                sign: Some(true),
                verify: Some(true),
                wrap: Some(true),
                unwrap: Some(true),
                derive: Some(false),
            },
            allowed_mechanisms: Some(vec![CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP]),
            check_value: Some(octets(&[0x7a, 0x2d, 0x1f]).unwrap()),
        },
    }
}

/// Claims of an EC private key generated here, birth-certificate style (no nonce).
fn ec_key_claims(provider: &str, unique_id: &str) -> KeyAttestation {
    let mut c = doc_example_claims();
    c.nonce = None;
    c.device.provider = provider.into();
    c.key.class = CKO_PRIVATE_KEY;
    c.key.key_type = CKK_EC;
    c.key.curve = Some(oid::SECP256R1);
    c.key.unique_id = unique_id.into();
    c.key.check_value = None;
    c.key.allowed_mechanisms = Some(vec![CKM_ECDSA, CKM_ECDSA_SHA256, 0x8000_1234]);
    c
}

/// Claims with every OPTIONAL absent.
fn minimal_claims() -> KeyAttestation {
    let mut c = doc_example_claims();
    c.nonce = None;
    c.key.bits = None;
    c.key.curve = None;
    c.key.created = None;
    c.key.security = SecurityClaims::default();
    c.key.usage = UsageClaims::default();
    c.key.allowed_mechanisms = None;
    c.key.check_value = None;
    c
}

/// Claims with every OPTIONAL present.
fn maximal_claims() -> KeyAttestation {
    let mut c = doc_example_claims();
    c.key.curve = Some(oid::ED25519);
    c.nonce = Some(octets(&[0xa5; 64]).unwrap());
    c
}

/// A chain made with one provider's keys.
struct Chain {
    dir: tempfile::TempDir,
    root: Vec<u8>,
    device: Vec<u8>,
    partition: Vec<u8>,
    device_key: Key,
    partition_key: Key,
    audit_key: Key,
}

fn chain(p: &dyn Provider, now: u64) -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let root_key = Key::new(p, Curve::P384);
    let device_key = Key::new(p, Curve::P384);
    let partition_key = Key::new(p, Curve::P256);
    let audit_key = Key::new(p, Curve::P256);
    let root =
        x509::issue(&Profile::Root, &Subject::root(DEVICE), &root_key.spki, None, &root_key.signer(p), serial(0), now)
            .unwrap();
    let device = x509::issue(
        &Profile::Device,
        &Subject::device(DEVICE),
        &device_key.spki,
        Some(&root),
        &root_key.signer(p),
        serial(1),
        now,
    )
    .unwrap();
    let partition = x509::issue(
        &Profile::PartitionAttestation,
        &Subject::partition_attestation(0, PARTITION, DEVICE),
        &partition_key.spki,
        Some(&device),
        &device_key.signer(p),
        serial(2),
        now,
    )
    .unwrap();
    for (name, der) in [("root", &root), ("device", &device), ("partition", &partition)] {
        write_cert(dir.path(), name, der);
    }
    let chain_pem = [
        std::fs::read(dir.path().join("device.pem")).unwrap(),
        std::fs::read(dir.path().join("partition.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.path().join("chain.pem"), chain_pem).unwrap();
    Chain { dir, root, device, partition, device_key, partition_key, audit_key }
}

#[test]
fn the_chain_and_attested_keys_verify_with_openssl() {
    let now = now();
    for name in available() {
        let p = &*select(Some(name)).unwrap();
        let c = chain(p, now);
        let dir = c.dir.path();

        // Audit and timestamp keys, issued by the device key.
        let audit = x509::issue(
            &Profile::Audit,
            &Subject::audit(DEVICE),
            &c.audit_key.spki,
            Some(&c.device),
            &c.device_key.signer(p),
            serial(3),
            now,
        )
        .unwrap();
        let ts_key = Key::new(p, Curve::P256);
        let timestamp = x509::issue(
            &Profile::Timestamp,
            &Subject::timestamp(0, PARTITION, DEVICE),
            &ts_key.spki,
            Some(&c.device),
            &c.device_key.signer(p),
            serial(4),
            now,
        )
        .unwrap();
        write_cert(dir, "audit", &audit);
        write_cert(dir, "timestamp", &timestamp);

        // Attested keys: a P-256 key, an RSA key (openssl's), an Ed25519 key.
        let o = openssl(dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"]);
        assert!(o.status.success(), "{}", text(&o));
        let o = openssl(dir, &["pkey", "-in", "rsa.key", "-pubout", "-outform", "DER", "-out", "rsa.spki"]);
        assert!(o.status.success(), "{}", text(&o));
        let rsa_spki = std::fs::read(dir.join("rsa.spki")).unwrap();
        let ec_spki = Key::new(p, Curve::P256).spki;
        let ed_spki = Key::new(p, Curve::Ed25519).spki;

        let issuer = Issuer::from_cert(&c.partition).unwrap();
        let partition_signer = c.partition_key.signer(p);
        for (i, (kind, key_spki)) in
            [("ec", &ec_spki), ("rsa", &rsa_spki), ("ed25519", &ed_spki)].into_iter().enumerate()
        {
            let unique_id = format!("{i:032x}");
            let claims = ec_key_claims(name, &unique_id);
            let claims_der = claims.to_der().unwrap();
            let profile = Profile::AttestedKey { claims_der: claims_der.clone() };
            let subject = Subject::attested_key(&unique_id, PARTITION, DEVICE);
            let sn = serial(i as u8);
            let cert =
                x509::issue_with(&profile, &subject, key_spki, Some(&issuer), &partition_signer, sn, now).unwrap();
            // The same through the unparsed issuer.
            let again =
                x509::issue(&profile, &subject, key_spki, Some(&c.partition), &partition_signer, sn, now).unwrap();
            assert_eq!(tbs_of(&cert), tbs_of(&again), "{name}: the same certificate but for the signature");

            let leaf = format!("attested-{kind}");
            write_cert(dir, &leaf, &cert);
            verify(dir, &leaf, "chain.pem");

            // What the module reads back.
            assert_eq!(x509::spki_of(&cert).unwrap(), *key_spki);
            assert!(x509::spki_matches(&cert, key_spki).unwrap());
            assert!(!x509::spki_matches(&cert, &ec_spki).unwrap() || kind == "ec");
            assert_eq!(x509::subject_of(&cert).unwrap(), subject.to_der().unwrap());

            // The claims come back from the extension, non-critical, to the same DER.
            let (critical, value) = x509::extension(&cert, &oid::KEY_ATTESTATION).unwrap().expect("the extension");
            assert!(!critical);
            assert_eq!(value, claims_der);
            let back = KeyAttestation::from_der(&value).unwrap();
            assert_eq!(back, claims);
            assert_eq!(back.to_der().unwrap(), claims_der);

            let t = x509_text(dir, &leaf);
            assert!(t.contains(&format!("{}:", oid::KEY_ATTESTATION)), "{name} {kind}: {t}");
            assert!(!t.contains("critical"), "{name} {kind}: nothing critical in an attested key: {t}");
            assert!(t.contains("X509v3 Authority Key Identifier"), "{t}");
            assert!(!t.contains("Basic Constraints") && !t.contains("Key Usage"), "{t}");
            assert!(t.contains("Not After : Dec 31 23:59:59 9999 GMT"), "{t}");
            assert!(
                t.contains(&format!(
                    "Subject: O = ferrohsm, OU = {PARTITION}, CN = ferrohsm attested key {unique_id}, serialNumber = {DEVICE}"
                )),
                "{t}"
            );
            assert!(t.contains("Issuer: O = ferrohsm, OU = "), "{t}");
            assert!(t.contains("Signature Algorithm: ecdsa-with-SHA256"), "{t}");
        }

        // Every other certificate of the chain verifies too.
        verify(dir, "root", "");
        verify(dir, "device", "");
        verify(dir, "partition", "device.pem");
        verify(dir, "audit", "device.pem");
        verify(dir, "timestamp", "device.pem");

        // Their extensions, as openssl prints them.
        let ku = "X509v3 Key Usage: critical";
        let bc = "X509v3 Basic Constraints: critical";
        let eku = format!("X509v3 Extended Key Usage: \n                {}, E-mail Protection", oid::KP_ATTESTATION);
        let ski = "X509v3 Subject Key Identifier";
        let aki = "X509v3 Authority Key Identifier";
        let root_t = x509_text(dir, "root");
        for want in [bc, "CA:TRUE, pathlen:2", ku, "Certificate Sign, CRL Sign\n", ski] {
            assert!(root_t.contains(want), "{name} root: {want:?} in {root_t}");
        }
        assert!(!root_t.contains(aki) && !root_t.contains("Extended Key Usage"), "{root_t}");
        assert!(root_t.contains("Signature Algorithm: ecdsa-with-SHA384"), "{root_t}");
        assert!(
            root_t.contains(&format!("Subject: O = ferrohsm, CN = ferrohsm root {DEVICE}, serialNumber = {DEVICE}"))
        );
        let device_t = x509_text(dir, "device");
        for want in [bc, "CA:TRUE, pathlen:1", ku, "Digital Signature, Certificate Sign, CRL Sign\n", &eku, ski, aki] {
            assert!(device_t.contains(want), "{name} device: {want:?} in {device_t}");
        }
        assert!(device_t.contains("Signature Algorithm: ecdsa-with-SHA384"));
        let partition_t = x509_text(dir, "partition");
        for want in [bc, "CA:TRUE, pathlen:0", ku, "Digital Signature, Certificate Sign\n", &eku, ski, aki] {
            assert!(partition_t.contains(want), "{name} partition: {want:?} in {partition_t}");
        }
        assert!(partition_t.contains(&format!(
            "Subject: O = ferrohsm, OU = {PARTITION}, CN = ferrohsm partition 0 attestation, serialNumber = {DEVICE}"
        )));
        let audit_t = x509_text(dir, "audit");
        for want in [bc, "CA:FALSE", ku, "Digital Signature\n", &eku, ski, aki] {
            assert!(audit_t.contains(want), "{name} audit: {want:?} in {audit_t}");
        }
        let ts_t = x509_text(dir, "timestamp");
        let ts_eku = "X509v3 Extended Key Usage: critical\n                Time Stamping\n";
        for want in [bc, "CA:FALSE", ku, "Digital Signature\n", ts_eku, ski, aki] {
            assert!(ts_t.contains(want), "{name} timestamp: {want:?} in {ts_t}");
        }
        // openssl's own purpose check for timestamping keys.
        let o = openssl(
            dir,
            &[
                "verify",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "device.pem",
                "-purpose",
                "timestampsign",
                "timestamp.pem",
            ],
        );
        assert!(o.status.success(), "{name}: {}", text(&o));
        // 30 years from now.
        let in_30 = DateTime::from_unix_duration(std::time::Duration::from_secs(now)).unwrap().year() + 30;
        assert!(root_t.contains(&format!("{in_30} GMT")), "{root_t}");

        // The AKI of each certificate is its issuer's SKI.
        let ski_of = |cert: &[u8]| Issuer::from_cert(cert).unwrap().key_id().to_vec();
        for (cert, issuer) in [(&c.device, &c.root), (&c.partition, &c.device), (&audit, &c.device)] {
            let (_, aki) = x509::extension(cert, &oid::Oid::from(&AKI_OID)).unwrap().unwrap();
            assert!(aki.ends_with(&ski_of(issuer)), "{name}");
        }
    }
}

/// The TBSCertificate of a certificate.
fn tbs_of(cert: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    #[derive(der::Sequence)]
    struct Parts<'a> {
        tbs: der::asn1::AnyRef<'a>,
        algorithm: der::asn1::AnyRef<'a>,
        signature: der::asn1::AnyRef<'a>,
    }
    Parts::from_der(cert).unwrap().tbs.to_der().unwrap()
}

const AKI_OID: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.35");

#[test]
fn evidence_verifies_with_openssl_cms_and_tampering_fails() {
    let now = now();
    for name in available() {
        let p = &*select(Some(name)).unwrap();
        let c = chain(p, now);
        let dir = c.dir.path();
        let claims = doc_example_claims();
        let json = claims.to_json(None).unwrap();

        let audit = x509::issue(
            &Profile::Audit,
            &Subject::audit(DEVICE),
            &c.audit_key.spki,
            Some(&c.device),
            &c.device_key.signer(p),
            serial(3),
            now,
        )
        .unwrap();
        let signers = [
            ("partition", &c.partition, c.partition_key.signer(p)),
            ("audit", &audit, c.audit_key.signer(p)),
            // A P-384 signer: SHA-384 for the digest and the signature.
            ("device", &c.device, c.device_key.signer(p)),
        ];
        for (who, cert, signer) in signers {
            let certs = vec![cert.clone(), c.device.clone(), c.root.clone()];
            let ev = cms::signed_data(&oid::EVIDENCE, json.as_bytes(), cert, &certs, &signer, now).unwrap();
            std::fs::write(dir.join("ev.der"), &ev).unwrap();
            let o = openssl(dir, &["cms", "-verify", "-inform", "DER", "-in", "ev.der", "-CAfile", "root.pem"]);
            assert!(o.status.success(), "{name} {who}: {}", text(&o));
            assert_eq!(String::from_utf8(o.stdout).unwrap(), json, "{name} {who}: openssl prints the JSON");
            assert!(String::from_utf8_lossy(&o.stderr).contains("Verification successful"));

            // The structure, as openssl sees it.
            let o = openssl(dir, &["cms", "-cmsout", "-print", "-inform", "DER", "-in", "ev.der", "-noout"]);
            let printed = text(&o);
            assert!(o.status.success(), "{printed}");
            assert!(printed.contains(&format!("eContentType: undefined ({})", oid::EVIDENCE)), "{printed}");
            for attr in ["contentType", "signingTime", "messageDigest"] {
                assert!(printed.contains(&format!("object: {attr}")), "{name} {who}: {attr} in {printed}");
            }
            assert!(printed.contains("version: 3"), "{printed}");

            // One byte of the content changed: the digest no longer matches.
            let at = ev.windows(json.len()).position(|w| w == json.as_bytes()).expect("the content is in the DER");
            let mut bad = ev.clone();
            bad[at + 10] ^= 0x01;
            std::fs::write(dir.join("bad.der"), &bad).unwrap();
            let o = openssl(dir, &["cms", "-verify", "-inform", "DER", "-in", "bad.der", "-CAfile", "root.pem"]);
            assert!(!o.status.success(), "{name} {who}: tampered evidence verifies: {}", text(&o));
            assert!(text(&o).contains("CMS_SignerInfo_verify_content"), "{}", text(&o));
        }

        // Evidence does not verify against another root.
        let other = chain(p, now);
        let certs = vec![c.partition.clone(), c.device.clone(), c.root.clone()];
        let ev =
            cms::signed_data(&oid::EVIDENCE, json.as_bytes(), &c.partition, &certs, &c.partition_key.signer(p), now)
                .unwrap();
        std::fs::write(other.dir.path().join("ev.der"), &ev).unwrap();
        let o =
            openssl(other.dir.path(), &["cms", "-verify", "-inform", "DER", "-in", "ev.der", "-CAfile", "root.pem"]);
        assert!(!o.status.success(), "{name}: evidence verifies under a foreign root");
    }
}

#[test]
fn csr_verifies_with_openssl() {
    for name in available() {
        let p = &*select(Some(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for curve in [Curve::P384, Curve::P256] {
            let key = Key::new(p, curve);
            let csr = x509::csr(&Subject::device(DEVICE), &key.spki, &key.signer(p)).unwrap();
            std::fs::write(dir.path().join("csr.der"), &csr).unwrap();
            let o = openssl(dir.path(), &["req", "-verify", "-inform", "DER", "-in", "csr.der", "-noout", "-subject"]);
            assert!(o.status.success(), "{name} {curve:?}: {}", text(&o));
            let t = text(&o);
            assert!(t.contains("verify OK"), "{t}");
            assert!(
                t.contains(&format!("O = ferrohsm, CN = ferrohsm device {DEVICE}, serialNumber = {DEVICE}")),
                "{t}"
            );
        }
    }
}

#[test]
fn a_p521_root_verifies() {
    for name in available() {
        let p = &*select(Some(name)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = Key::new(p, Curve::P521);
        let root =
            x509::issue(&Profile::Root, &Subject::root(DEVICE), &key.spki, None, &key.signer(p), serial(0), now())
                .unwrap();
        write_cert(dir.path(), "root", &root);
        verify(dir.path(), "root", "");
        assert!(x509_text(dir.path(), "root").contains("ecdsa-with-SHA512"));
    }
}

#[test]
fn claims_round_trip_with_every_optional_absent_or_present() {
    let dir = tempfile::tempdir().unwrap();
    for (what, claims) in [("minimal", minimal_claims()), ("maximal", maximal_claims()), ("doc", doc_example_claims())]
    {
        let der = claims.to_der().unwrap();
        let back = KeyAttestation::from_der(&der).unwrap();
        assert_eq!(back, claims, "{what}");
        assert_eq!(back.to_der().unwrap(), der, "{what}");
        // openssl parses it as DER.
        std::fs::write(dir.path().join("claims.der"), &der).unwrap();
        let o = openssl(dir.path(), &["asn1parse", "-inform", "DER", "-in", "claims.der"]);
        assert!(o.status.success(), "{what}: {}", text(&o));
    }
    // The tags the ASN.1 module says: [0] IMPLICIT OCTET STRING for the nonce, right
    // after the version; GeneralizedTime for the time.
    let body = |der: &[u8]| -> Vec<u8> {
        let header = if der[1] & 0x80 == 0 { 2 } else { 2 + usize::from(der[1] & 0x7f) };
        der[header..].to_vec()
    };
    let der = maximal_claims().to_der().unwrap();
    let b = body(&der);
    assert_eq!(&b[0..3], &[0x02, 0x01, 0x01], "version INTEGER 1");
    assert_eq!(&b[3..5], &[0x80, 64], "nonce [0] IMPLICIT, primitive");
    assert_eq!(b[5 + 64], 0x18, "time GeneralizedTime");
    let min = minimal_claims().to_der().unwrap();
    assert_eq!(body(&min)[3], 0x18, "no nonce: the time follows the version");
    // The security and usage sequences are empty when nothing is known.
    assert!(min.windows(4).any(|w| w == [0x30, 0x00, 0x30, 0x00]), "empty SecurityClaims and UsageClaims");

    // Garbage does not parse, and says so with CKR_FUNCTION_FAILED.
    assert_eq!(KeyAttestation::from_der(&der[..der.len() - 1]).unwrap_err().rv(), CKR_FUNCTION_FAILED);
}

/// The JSON block of docs/attestation.md.
fn doc_json() -> serde_json::Value {
    let doc = include_str!("../../../docs/attestation.md");
    let start = doc.find("```json\n").expect("the doc has a JSON example") + "```json\n".len();
    let end = start + doc[start..].find("```").unwrap();
    serde_json::from_str(&doc[start..end]).expect("the doc's example is JSON")
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn json_is_the_docs_example() {
    let ours: serde_json::Value = serde_json::from_str(&doc_example_claims().to_json(None).unwrap()).unwrap();
    assert_eq!(ours, doc_json(), "the claims of the doc's example give the doc's JSON");
}

#[test]
fn json_has_the_docs_field_names_and_omits_the_unknown() {
    let doc = doc_json();
    let key_fields = |extra: &[&str]| -> BTreeSet<String> {
        keys(&doc["key"]).into_iter().chain(extra.iter().map(|s| s.to_string())).collect()
    };

    // An EC private key: curve and public_key_info appear, named as the doc says.
    let p = select(None).unwrap();
    let key = Key::new(&*p, Curve::P256);
    let json = ec_key_claims("aws-lc", "00").to_json(Some(&key.spki)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(keys(&v), keys(&doc).into_iter().filter(|k| k != "nonce").collect(), "no nonce in a birth claim");
    assert_eq!(keys(&v["device"]), keys(&doc["device"]));
    assert_eq!(keys(&v["partition"]), keys(&doc["partition"]));
    assert_eq!(keys(&v["partition"]["policy"]), keys(&doc["partition"]["policy"]));
    let mut want = key_fields(&["curve", "public_key_info"]);
    want.remove("check_value");
    assert_eq!(keys(&v["key"]), want);
    assert_eq!(keys(&v["key"]["security"]), keys(&doc["key"]["security"]));
    assert_eq!(keys(&v["key"]["usage"]), keys(&doc["key"]["usage"]));
    assert_eq!(v["type"], "key");
    assert_eq!(v["key"]["class"], "private");
    assert_eq!(v["key"]["type"], "EC");
    assert_eq!(v["key"]["curve"], "P-256");
    assert_eq!(v["key"]["public_key_info"], hex(&key.spki));
    assert_eq!(v["key"]["allowed_mechanisms"], serde_json::json!(["CKM_ECDSA", "CKM_ECDSA_SHA256", "0x80001234"]));
    assert_eq!(v["device"]["protection"], "software");

    // Nothing known: the optional claims are absent, not false.
    let v: serde_json::Value = serde_json::from_str(&minimal_claims().to_json(None).unwrap()).unwrap();
    assert!(v.get("nonce").is_none());
    for absent in ["bits", "curve", "public_key_info", "created", "check_value", "allowed_mechanisms"] {
        assert!(v["key"].get(absent).is_none(), "{absent}");
    }
    assert_eq!(v["key"]["security"], serde_json::json!({}));
    assert_eq!(v["key"]["usage"], serde_json::json!({}));

    // Other names.
    let mut c = minimal_claims();
    c.key.class = CKO_PUBLIC_KEY;
    c.key.key_type = CKK_EC_EDWARDS;
    c.key.curve = Some(oid::ED25519);
    c.key.origin = Origin::Unwrapped;
    let v: serde_json::Value = serde_json::from_str(&c.to_json(None).unwrap()).unwrap();
    assert_eq!((&v["key"]["class"], &v["key"]["type"]), (&"public".into(), &"EC_EDWARDS".into()));
    assert_eq!((&v["key"]["curve"], &v["key"]["origin"]), (&"Ed25519".into(), &"unwrapped".into()));
}

#[test]
fn p1363_signatures_become_der() {
    let mut rs = [0u8; 64];
    rs[31] = 1; // r = 1
    rs[32..].fill(0xff); // s = 2^256 - 1: a leading zero keeps it positive
    let der = ecdsa_p1363_to_der(&rs).unwrap();
    let mut want = vec![0x30, 3 + 35, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00];
    want.extend([0xff; 32]);
    assert_eq!(der, want);
    assert_eq!(ecdsa_p1363_to_der(&[1, 2, 3]).unwrap_err().rv(), CKR_GENERAL_ERROR);
    assert!(ecdsa_p1363_to_der(&[]).is_err());
}

#[test]
fn signers_sign_what_they_say() {
    for name in available() {
        let p = &*select(Some(name)).unwrap();
        for (curve, alg) in [
            (Curve::P256, oid::ECDSA_WITH_SHA256),
            (Curve::P384, oid::ECDSA_WITH_SHA384),
            (Curve::P521, oid::ECDSA_WITH_SHA512),
        ] {
            let key = Key::new(p, curve);
            let s = key.signer(p);
            assert_eq!(s.algorithm().oid, alg);
            assert!(s.algorithm().parameters.is_none(), "RFC 5758: parameters absent");
            assert_eq!(s.sign(b"abc").unwrap()[0], 0x30);
        }
        let ed = Key::new(p, Curve::Ed25519);
        assert!(EcSigner::new(p, &*ed.signing, Curve::Ed25519).is_err());
    }
}

#[test]
fn profiles_refuse_a_wrong_issuer() {
    let p = &*select(None).unwrap();
    let key = Key::new(p, Curve::P256);
    let s = key.signer(p);
    let root = x509::issue(&Profile::Root, &Subject::root(DEVICE), &key.spki, None, &s, serial(0), now()).unwrap();
    let e = x509::issue(&Profile::Root, &Subject::root(DEVICE), &key.spki, Some(&root), &s, serial(0), 0).unwrap_err();
    assert_eq!(e.rv(), CKR_GENERAL_ERROR);
    let e = x509::issue(&Profile::Device, &Subject::device(DEVICE), &key.spki, None, &s, serial(0), 0).unwrap_err();
    assert_eq!(e.rv(), CKR_GENERAL_ERROR);
    let e =
        x509::issue(&Profile::Device, &Subject::device(DEVICE), b"junk", Some(&root), &s, serial(0), 0).unwrap_err();
    assert_eq!(e.rv(), CKR_FUNCTION_FAILED);
    let e = x509::issue(&Profile::Device, &Subject::device("not*printable"), &key.spki, Some(&root), &s, serial(0), 0);
    assert_eq!(e.unwrap_err().rv(), CKR_GENERAL_ERROR);
    assert_eq!(x509::spki_of(b"\x30\x00").unwrap_err().rv(), CKR_FUNCTION_FAILED);
}
