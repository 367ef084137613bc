//! Attestation through the built module (issue 4, docs/attestation.md): the device's
//! chain of keys and their objects, what nobody may do with them, key attestation as
//! a certificate (`CKM_FERRO_KEY_ATTEST_CERT`) and as signed evidence
//! (`CKM_FERRO_KEY_ATTEST_EVIDENCE`), claims that follow what the token did, birth
//! certificates, partitions (re-initialised and new), the device CSR
//! (`CKM_FERRO_DEVICE_CSR`) and an outside CA's certificate for the device key.
//!
//! Everything signed is checked by the `openssl` command line: chains with
//! `openssl verify`, evidence with `openssl cms -verify`, requests with
//! `openssl req -verify`, certificate fields with `openssl x509 -text`. Claims are
//! read with `ferrohsm_pkcs11::attest::claims` (the extension's DER module); their
//! values are compared with what the token shows through `C_GetAttributeValue` and
//! `C_GetTokenInfo`.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::ptr;

use common::*;
use ferrohsm_pkcs11::attest::claims::{KeyAttestation, Origin, Protection};
use ferrohsm_pkcs11::attest::{oid, x509};

// Vendor constants, as DESIGN.md fixes them (not taken from the module, so that a
// wrong value there fails here).
const CKM_FERRO_KEY_ATTEST_CERT: CK_MECHANISM_TYPE = 0xC648_0001;
const CKM_FERRO_KEY_ATTEST_EVIDENCE: CK_MECHANISM_TYPE = 0xC648_0002;
const CKM_FERRO_PARTITION_ATTEST: CK_MECHANISM_TYPE = 0xC648_0003;
const CKM_FERRO_DEVICE_ATTEST: CK_MECHANISM_TYPE = 0xC648_0004;
const CKM_FERRO_LOG_ATTEST: CK_MECHANISM_TYPE = 0xC648_0005;
const CKM_FERRO_TIMESTAMP: CK_MECHANISM_TYPE = 0xC648_0006;
const CKM_FERRO_DEVICE_CSR: CK_MECHANISM_TYPE = 0xC648_0007;
/// Every attestation mechanism: what `CKA_ALLOWED_MECHANISMS` of a chain key lists.
const ATTESTATION_MECHANISMS: [CK_MECHANISM_TYPE; 7] = [
    CKM_FERRO_KEY_ATTEST_CERT,
    CKM_FERRO_KEY_ATTEST_EVIDENCE,
    CKM_FERRO_PARTITION_ATTEST,
    CKM_FERRO_DEVICE_ATTEST,
    CKM_FERRO_LOG_ATTEST,
    CKM_FERRO_TIMESTAMP,
    CKM_FERRO_DEVICE_CSR,
];

/// `CKA_FERRO_KEY_ROLE` values.
const ROLE_ROOT: CK_ULONG = 1;
const ROLE_DEVICE: CK_ULONG = 2;
const ROLE_PARTITION: CK_ULONG = 3;
const ROLE_TIMESTAMP: CK_ULONG = 4;
const ROLE_AUDIT: CK_ULONG = 5;

/// The labels (and IDs) of the chain's objects (docs/attestation.md, "The chain").
const ROOT: &str = "ferrohsm root";
const DEVICE: &str = "ferrohsm device";
const AUDIT: &str = "ferrohsm audit";
const PARTITION: &str = "ferrohsm partition attestation";
const TIMESTAMP: &str = "ferrohsm timestamp";

/// `id-ferro-kp-attestation`, as openssl prints it.
const PURPOSE: &str = "2.25.36854759746227648345030761591017072291.3";
/// `id-ferro-keyAttestation`, as openssl prints it.
const KEY_ATTESTATION_OID: &str = "2.25.36854759746227648345030761591017072291.1";

// ---------------------------------------------------------------------------
// Helpers: openssl

/// Writes a DER certificate as PEM to `dir/name.pem`.
fn pem_file(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let p = dir.join(format!("{name}.pem"));
    std::fs::write(&p, openssl(&["x509", "-inform", "DER", "-outform", "PEM"], der)).unwrap();
    p
}

/// Writes DER certificates as one PEM bundle to `dir/name.pem`.
fn bundle(dir: &Path, name: &str, ders: &[&[u8]]) -> PathBuf {
    let p = dir.join(format!("{name}.pem"));
    let pems: Vec<u8> = ders.iter().flat_map(|d| openssl(&["x509", "-inform", "DER", "-outform", "PEM"], d)).collect();
    std::fs::write(&p, pems).unwrap();
    p
}

/// `openssl verify -CAfile root [-untrusted chain] leaf`: (passed, what it said).
fn openssl_verify(root: &Path, untrusted: Option<&Path>, leaf: &Path) -> (bool, String) {
    let mut args = vec!["verify", "-CAfile", path(root)];
    if let Some(u) = untrusted {
        args.extend(["-untrusted", path(u)]);
    }
    args.push(path(leaf));
    let r = run_openssl(&args, &[]);
    let said = format!("{}{}", r.text(), r.stderr);
    (r.ok && said.contains(": OK"), said)
}

/// `openssl x509 -text` of a DER certificate.
fn cert_text(der: &[u8]) -> String {
    String::from_utf8(openssl(&["x509", "-inform", "DER", "-noout", "-text"], der)).unwrap()
}

/// The extension `name` in `openssl x509 -text` output: (critical, its value on one
/// line). `None` when the certificate does not have it.
fn extension(text: &str, name: &str) -> Option<(bool, String)> {
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix(name).and_then(|r| r.strip_prefix(':')) {
            let value = lines.next().unwrap_or_default().trim().to_string();
            return Some((rest.trim() == "critical", value));
        }
    }
    None
}

/// The attributes of a DER Name as openssl prints it (RFC 2253), by short name.
fn name_map(line: &str) -> BTreeMap<String, String> {
    line.trim()
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{line}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// The subject of a DER certificate, by attribute.
fn subject(der: &[u8]) -> BTreeMap<String, String> {
    let out = String::from_utf8(openssl(&["x509", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253"], der))
        .unwrap();
    name_map(out.trim().strip_prefix("subject=").unwrap())
}

/// The issuer of a DER certificate, by attribute.
fn issuer(der: &[u8]) -> BTreeMap<String, String> {
    let out = String::from_utf8(openssl(&["x509", "-inform", "DER", "-noout", "-issuer", "-nameopt", "RFC2253"], der))
        .unwrap();
    name_map(out.trim().strip_prefix("issuer=").unwrap())
}

/// The SubjectPublicKeyInfo (DER) of a DER certificate, as openssl reads it.
fn cert_spki(der: &[u8]) -> Vec<u8> {
    let pem = openssl(&["x509", "-inform", "DER", "-noout", "-pubkey"], der);
    openssl(&["pkey", "-pubin", "-outform", "DER"], &pem)
}

/// The claims of an attested-key certificate: the `id-ferro-keyAttestation`
/// extension, which must be there and not critical, decoded.
fn claims(der: &[u8]) -> KeyAttestation {
    let (critical, value) = x509::extension(der, &oid::KEY_ATTESTATION)
        .expect("the certificate parses")
        .expect("the key attestation extension is there");
    assert!(!critical, "the key attestation extension is not critical");
    KeyAttestation::from_der(&value).expect("the claims decode")
}

// ---------------------------------------------------------------------------
// Helpers: the token

fn data_ptr(data: &[u8]) -> *mut u8 {
    if data.is_empty() { ptr::null_mut() } else { data.as_ptr() as *mut u8 }
}

/// `C_SignInit(ty, key)` then `C_Sign(data)` with a length query first; the length
/// answered must be the length of the bytes the next call returns.
fn sign(s: CK_SESSION_HANDLE, ty: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    match call!(C_SignInit, s, &mut mech(ty), key) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    let mut n: CK_ULONG = 0;
    match call!(C_Sign, s, data_ptr(data), data.len() as CK_ULONG, ptr::null_mut(), &mut n) {
        CKR_OK => {}
        rv => return Err(rv),
    }
    assert!(n > 0, "the length query answers a length");
    let mut out = vec![0u8; n as usize];
    let mut got = n;
    assert_rv!(call!(C_Sign, s, data_ptr(data), data.len() as CK_ULONG, out.as_mut_ptr(), &mut got), CKR_OK);
    assert_eq!(got, n, "the length query answered the length of the bytes returned");
    Ok(out)
}

/// A fresh key attestation certificate of `key` for `nonce`.
fn attest_cert(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, nonce: &[u8]) -> Result<Vec<u8>, CK_RV> {
    sign(s, CKM_FERRO_KEY_ATTEST_CERT, key, nonce)
}

/// A token EC (or Ed25519, by `params`) key pair labelled `label`: (public, private).
fn ec_pair(
    h: &Hsm,
    s: CK_SESSION_HANDLE,
    params: &[u8],
    label: &str,
    private: Tmpl,
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let ty = if params == ED25519_OID { CKM_EC_EDWARDS_KEY_PAIR_GEN } else { CKM_EC_KEY_PAIR_GEN };
    let public = Tmpl::new().token(true).label(label).bytes(CKA_EC_PARAMS, params).bool(CKA_VERIFY, true);
    h.generate_pair(s, ty, &public, &private.token(true).label(label))
        .unwrap_or_else(|rv| panic!("key pair {label}: {rv:#x}"))
}

/// A token RSA-2048 key pair labelled `label`: (public, private).
fn rsa_pair(h: &Hsm, s: CK_SESSION_HANDLE, label: &str) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    let public = Tmpl::new().token(true).label(label).ulong(CKA_MODULUS_BITS, 2048).bool(CKA_VERIFY, true);
    let private = Tmpl::new().token(true).label(label).bool(CKA_SIGN, true);
    h.generate_pair(s, CKM_RSA_PKCS_KEY_PAIR_GEN, &public, &private).unwrap_or_else(|rv| panic!("RSA pair: {rv:#x}"))
}

/// An AES-256 key made by the token, with `extra` (which says whether it is a
/// token object) added to its template.
fn generate_aes(h: &Hsm, s: CK_SESSION_HANDLE, extra: Tmpl) -> CK_OBJECT_HANDLE {
    let mut t = Tmpl::new().class(CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 32);
    t.0.extend(extra.0);
    h.generate_key(s, CKM_AES_KEY_GEN, &t).unwrap_or_else(|rv| panic!("AES key: {rv:#x}"))
}

/// The objects of `class` with `CKA_FERRO_KEY_ROLE` = `role`.
fn by_role(h: &Hsm, s: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS, role: CK_ULONG) -> Vec<CK_OBJECT_HANDLE> {
    h.find(s, &Tmpl::new().class(class).ulong(CKA_FERRO_KEY_ROLE, role))
}

/// The one object of `class` with `role`.
fn one_by_role(h: &Hsm, s: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS, role: CK_ULONG) -> CK_OBJECT_HANDLE {
    let all = by_role(h, s, class, role);
    assert_eq!(all.len(), 1, "one object of class {class:#x} and role {role}");
    all[0]
}

/// The certificate of `role` (DER).
fn role_cert(h: &Hsm, s: CK_SESSION_HANDLE, role: CK_ULONG) -> Vec<u8> {
    h.get(s, one_by_role(h, s, CKO_CERTIFICATE, role), CKA_VALUE).unwrap()
}

/// The certificates of the chain, read from the token with no login, as a relying
/// party would: the partition's from its slot, the rest from the admin token.
struct Chain {
    /// Role 1 certificates: the device root, or an outside CA's chain.
    roots: Vec<Vec<u8>>,
    device: Vec<u8>,
    audit: Vec<u8>,
    partition: Vec<u8>,
    timestamp: Vec<u8>,
}

fn read_chain(h: &Hsm, slot: CK_SLOT_ID) -> Chain {
    let a = h.open(ADMIN_SLOT, true);
    let p = h.open(slot, true);
    let roots =
        by_role(h, a, CKO_CERTIFICATE, ROLE_ROOT).into_iter().map(|o| h.get(a, o, CKA_VALUE).unwrap()).collect();
    let c = Chain {
        roots,
        device: role_cert(h, a, ROLE_DEVICE),
        audit: role_cert(h, a, ROLE_AUDIT),
        partition: role_cert(h, p, ROLE_PARTITION),
        timestamp: role_cert(h, p, ROLE_TIMESTAMP),
    };
    assert_rv!(call!(C_CloseSession, a), CKR_OK);
    assert_rv!(call!(C_CloseSession, p), CKR_OK);
    c
}

impl Chain {
    /// The one root (before any outside CA).
    fn root(&self) -> &[u8] {
        assert_eq!(self.roots.len(), 1, "one root certificate");
        &self.roots[0]
    }
}

/// `openssl verify` of an attested-key certificate of `slot` against the chain read
/// from the token, with `root` pinned (default: the token's root).
fn verify_attested(h: &Hsm, slot: CK_SLOT_ID, att: &[u8], root: Option<&[u8]>) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let c = read_chain(h, slot);
    let root = pem_file(dir.path(), "root", root.unwrap_or_else(|| c.root()));
    let mut above: Vec<&[u8]> = vec![&c.partition, &c.device];
    above.extend(c.roots.iter().map(|r| r.as_slice()));
    let chain = bundle(dir.path(), "chain", &above);
    let leaf = pem_file(dir.path(), "att", att);
    openssl_verify(&root, Some(&chain), &leaf)
}

/// The token serial of `slot`, as the claims and names write it.
fn token_serial(h: &Hsm, slot: CK_SLOT_ID) -> String {
    String::from_utf8_lossy(&h.token_info(slot).serialNumber).trim_end().to_string()
}

/// The crypto provider the module under test runs: `FERROHSM_PROVIDER`, else the
/// build's default.
fn provider() -> String {
    std::env::var("FERROHSM_PROVIDER")
        .unwrap_or_else(|_| if cfg!(feature = "aws-lc") { "aws-lc" } else { "rustcrypto" }.to_string())
}

/// Seconds since the epoch, now.
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A claimed time as `CKA_FERRO_CREATED` writes it (`YYYYMMDDhhmmssZ`): the
/// contents of its DER GeneralizedTime.
fn stamp(t: &der::asn1::GeneralizedTime) -> Vec<u8> {
    der::Encode::to_der(t).unwrap()[2..].to_vec()
}

fn ulongs(v: &[u8]) -> Vec<CK_ULONG> {
    v.chunks_exact(size_of::<CK_ULONG>()).map(|c| CK_ULONG::from_ne_bytes(c.try_into().unwrap())).collect()
}

// ---------------------------------------------------------------------------
// The chain

/// docs/attestation.md, "The chain": on a fresh store the admin token holds the
/// root, device and audit keys and every partition its attestation and timestamp
/// keys, each a private key no one can take out or change, a public key and a
/// certificate anyone can read.
#[test]
fn a_fresh_store_holds_the_chain_as_locked_down_objects() {
    let (h, s) = Hsm::ready();
    assert_rv!(call!(C_Logout, s), CKR_OK);
    // Nobody is logged in anywhere: the chain is public.
    let admin = h.open(ADMIN_SLOT, false);
    let roles = [
        (admin, ROLE_ROOT, ROOT),
        (admin, ROLE_DEVICE, DEVICE),
        (admin, ROLE_AUDIT, AUDIT),
        (s, ROLE_PARTITION, PARTITION),
        (s, ROLE_TIMESTAMP, TIMESTAMP),
    ];
    for (session, role, label) in roles {
        let key = one_by_role(&h, session, CKO_PRIVATE_KEY, role);
        let public = one_by_role(&h, session, CKO_PUBLIC_KEY, role);
        let cert = one_by_role(&h, session, CKO_CERTIFICATE, role);
        for (what, o) in [("private key", key), ("public key", public), ("certificate", cert)] {
            assert_eq!(h.get(session, o, CKA_LABEL).unwrap(), label.as_bytes(), "{label} {what}: CKA_LABEL");
            assert_eq!(h.get(session, o, CKA_ID).unwrap(), label.as_bytes(), "{label} {what}: CKA_ID is the label");
            assert!(h.get_bool(session, o, CKA_TOKEN), "{label} {what}: a token object");
            assert!(!h.get_bool(session, o, CKA_PRIVATE), "{label} {what}: public");
            assert_eq!(h.get_ulong(session, o, CKA_FERRO_KEY_ROLE), role, "{label} {what}: CKA_FERRO_KEY_ROLE");
        }
        for (ty, want) in [
            (CKA_SENSITIVE, true),
            (CKA_ALWAYS_SENSITIVE, true),
            (CKA_EXTRACTABLE, false),
            (CKA_NEVER_EXTRACTABLE, true),
            (CKA_MODIFIABLE, false),
            (CKA_DESTROYABLE, false),
            (CKA_COPYABLE, false),
            (CKA_LOCAL, true),
        ] {
            assert_eq!(h.get_bool(session, key, ty), want, "{label} private key: attribute {ty:#x}");
        }
        let mut allowed = ulongs(&h.get(session, key, CKA_ALLOWED_MECHANISMS).unwrap());
        allowed.sort_unstable();
        assert_eq!(allowed, ATTESTATION_MECHANISMS, "{label}: CKA_ALLOWED_MECHANISMS");
        assert_rv!(rv(h.get(session, key, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "{label}: CKA_VALUE");
        assert_eq!(h.get_ulong(session, key, CKA_KEY_TYPE), CKK_EC);
        // The certificate is the key's.
        let der = h.get(session, cert, CKA_VALUE).unwrap();
        let spki = h.get(session, key, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(cert_spki(&der), spki, "{label}: the certificate certifies the private key's public key");
        assert_eq!(h.get(session, public, CKA_PUBLIC_KEY_INFO).unwrap(), spki, "{label}: the public key object");
    }
    // Each token holds only its own roles.
    for role in [ROLE_PARTITION, ROLE_TIMESTAMP] {
        assert!(by_role(&h, admin, CKO_PRIVATE_KEY, role).is_empty(), "the admin token has no role {role} key");
    }
    for role in [ROLE_ROOT, ROLE_DEVICE, ROLE_AUDIT] {
        assert!(by_role(&h, s, CKO_PRIVATE_KEY, role).is_empty(), "a partition has no role {role} key");
    }
}

/// docs/attestation.md, "Certificate profile": curves, issuers, basicConstraints,
/// keyUsage and our purpose, as openssl reads them; and the chain verifies.
#[test]
fn the_chain_certificates_follow_the_profile_and_verify() {
    let (h, _s) = Hsm::ready();
    let c = read_chain(&h, 0);
    let dir = tempfile::tempdir().unwrap();
    let root = pem_file(dir.path(), "root", c.root());
    let device = pem_file(dir.path(), "device", &c.device);
    let chain = bundle(dir.path(), "chain", &[&c.device]);

    // Verification: root self-signed; device by the root; the rest by the device.
    let (ok, said) = openssl_verify(&root, None, &root);
    assert!(ok, "the root verifies as its own anchor: {said}");
    let (ok, said) = openssl_verify(&root, None, &device);
    assert!(ok, "the device certificate is the root's: {said}");
    for (name, der) in [("partition", &c.partition), ("audit", &c.audit), ("timestamp", &c.timestamp)] {
        let leaf = pem_file(dir.path(), name, der);
        let (ok, said) = openssl_verify(&root, Some(&chain), &leaf);
        assert!(ok, "the {name} certificate chains to the root through the device: {said}");
        // Not without the device certificate.
        let (ok, _) = openssl_verify(&root, None, &leaf);
        assert!(!ok, "the {name} certificate is not the root's own");
    }

    let serial = subject(c.root())["CN"].strip_prefix("ferrohsm root ").expect("CN=ferrohsm root <serial>").to_string();
    assert_eq!(serial.len(), 16, "the device serial is 16 hex digits: {serial}");
    assert!(serial.bytes().all(|b| b.is_ascii_hexdigit()));
    let partition_serial = token_serial(&h, 0);

    struct Want {
        name: &'static str,
        curve: &'static str,
        signed_with: &'static str,
        subject: Vec<(&'static str, String)>,
        issuer_cn: String,
        basic: &'static str,
        key_usage: &'static str,
        eku: Option<(bool, Vec<&'static str>)>,
    }
    let wants = [
        Want {
            name: "root",
            curve: "P-384",
            signed_with: "ecdsa-with-SHA384",
            subject: vec![("CN", format!("ferrohsm root {serial}"))],
            issuer_cn: format!("ferrohsm root {serial}"),
            basic: "CA:TRUE, pathlen:2",
            key_usage: "Certificate Sign, CRL Sign",
            eku: None,
        },
        Want {
            name: "device",
            curve: "P-384",
            signed_with: "ecdsa-with-SHA384",
            subject: vec![("CN", format!("ferrohsm device {serial}"))],
            issuer_cn: format!("ferrohsm root {serial}"),
            basic: "CA:TRUE, pathlen:1",
            key_usage: "Digital Signature, Certificate Sign, CRL Sign",
            eku: Some((false, vec![PURPOSE, "E-mail Protection"])),
        },
        Want {
            name: "partition",
            curve: "P-256",
            signed_with: "ecdsa-with-SHA384",
            subject: vec![("CN", "ferrohsm partition 0 attestation".into()), ("OU", partition_serial.clone())],
            issuer_cn: format!("ferrohsm device {serial}"),
            basic: "CA:TRUE, pathlen:0",
            key_usage: "Digital Signature, Certificate Sign",
            eku: Some((false, vec![PURPOSE, "E-mail Protection"])),
        },
        Want {
            name: "audit",
            curve: "P-256",
            signed_with: "ecdsa-with-SHA384",
            subject: vec![("CN", format!("ferrohsm audit {serial}"))],
            issuer_cn: format!("ferrohsm device {serial}"),
            basic: "CA:FALSE",
            key_usage: "Digital Signature",
            eku: Some((false, vec![PURPOSE, "E-mail Protection"])),
        },
        Want {
            name: "timestamp",
            curve: "P-256",
            signed_with: "ecdsa-with-SHA384",
            subject: vec![("CN", "ferrohsm partition 0 timestamp".into()), ("OU", partition_serial.clone())],
            issuer_cn: format!("ferrohsm device {serial}"),
            basic: "CA:FALSE",
            key_usage: "Digital Signature",
            eku: Some((true, vec!["Time Stamping"])),
        },
    ];
    let ders = [c.root(), &c.device[..], &c.partition[..], &c.audit[..], &c.timestamp[..]];
    for (w, der) in wants.iter().zip(ders) {
        let name = w.name;
        let text = cert_text(der);
        assert!(text.contains(&format!("NIST CURVE: {}", w.curve)), "{name}: on {}\n{text}", w.curve);
        assert!(text.contains(&format!("Signature Algorithm: {}", w.signed_with)), "{name}: {}\n{text}", w.signed_with);
        assert!(text.contains("Version: 3 (0x2)"), "{name}: X.509 v3");
        let subj = subject(der);
        assert_eq!(subj["O"], "ferrohsm", "{name}: O");
        assert_eq!(subj["serialNumber"], serial, "{name}: serialNumber is the device serial");
        for (k, v) in &w.subject {
            assert_eq!(&subj[*k], v, "{name}: subject {k}");
        }
        assert_eq!(subj.contains_key("OU"), w.subject.iter().any(|(k, _)| *k == "OU"), "{name}: OU");
        assert_eq!(issuer(der)["CN"], w.issuer_cn, "{name}: issuer");
        assert_eq!(
            extension(&text, "X509v3 Basic Constraints"),
            Some((true, w.basic.to_string())),
            "{name}: basicConstraints"
        );
        assert_eq!(extension(&text, "X509v3 Key Usage"), Some((true, w.key_usage.to_string())), "{name}: keyUsage");
        match &w.eku {
            None => assert_eq!(extension(&text, "X509v3 Extended Key Usage"), None, "{name}: no EKU"),
            Some((critical, purposes)) => {
                let (c, v) = extension(&text, "X509v3 Extended Key Usage").unwrap_or_else(|| panic!("{name}: EKU"));
                assert_eq!(c, *critical, "{name}: EKU criticality");
                let got: Vec<&str> = v.split(", ").collect();
                assert_eq!(&got, purposes, "{name}: EKU");
            }
        }
        assert!(extension(&text, "X509v3 Subject Key Identifier").is_some(), "{name}: SKI");
        assert_eq!(extension(&text, "X509v3 Authority Key Identifier").is_some(), name != "root", "{name}: AKI");
    }
}

// ---------------------------------------------------------------------------
// No misuse

/// The chain's private keys sign nothing but attestations and cannot be destroyed,
/// changed, copied, wrapped or read; their certificates cannot be destroyed or
/// changed either.
#[test]
fn chain_keys_cannot_be_misused() {
    let (h, s) = Hsm::ready();
    let so = h.device_so();
    let wrapping = generate_aes(&h, s, Tmpl::new().bool(CKA_WRAP, true));
    // The device SO's wrapping key on the admin token: a public session key.
    let admin_wrapping = generate_aes(&h, so, Tmpl::new().bool(CKA_PRIVATE, false).bool(CKA_WRAP, true));
    for (session, wrap_with, role) in [
        (so, admin_wrapping, ROLE_ROOT),
        (so, admin_wrapping, ROLE_DEVICE),
        (so, admin_wrapping, ROLE_AUDIT),
        (s, wrapping, ROLE_PARTITION),
        (s, wrapping, ROLE_TIMESTAMP),
    ] {
        let key = one_by_role(&h, session, CKO_PRIVATE_KEY, role);
        let cert = one_by_role(&h, session, CKO_CERTIFICATE, role);
        let public = one_by_role(&h, session, CKO_PUBLIC_KEY, role);
        let before = h.get(session, cert, CKA_VALUE).unwrap();
        // Ordinary signatures: the mechanism is not in CKA_ALLOWED_MECHANISMS
        // (PKCS#11 3.0 §4.9; CKR_MECHANISM_INVALID, as for a mechanism the key
        // cannot be used with).
        for m in [CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384] {
            assert_rv!(call!(C_SignInit, session, &mut mech(m), key), CKR_MECHANISM_INVALID, "role {role}: {m:#x}");
        }
        // §4.4: CKA_DESTROYABLE, CKA_MODIFIABLE and CKA_COPYABLE false.
        assert_rv!(h.destroy(session, key), CKR_ACTION_PROHIBITED, "role {role}: destroy the key");
        assert_rv!(h.destroy(session, cert), CKR_ACTION_PROHIBITED, "role {role}: destroy the certificate");
        assert_rv!(h.destroy(session, public), CKR_ACTION_PROHIBITED, "role {role}: destroy the public key");
        assert_rv!(h.set(session, key, &Tmpl::new().label("mine")), CKR_ACTION_PROHIBITED, "role {role}: label");
        assert_rv!(
            h.set(session, key, &Tmpl::new().bytes(CKA_ALLOWED_MECHANISMS, &CKM_ECDSA.to_ne_bytes())),
            CKR_ACTION_PROHIBITED,
            "role {role}: CKA_ALLOWED_MECHANISMS"
        );
        assert_rv!(
            h.set(session, cert, &Tmpl::new().bytes(CKA_VALUE, b"other")),
            CKR_ACTION_PROHIBITED,
            "role {role}: the certificate's value"
        );
        assert_rv!(rv(h.copy(session, key, &Tmpl::new())), CKR_ACTION_PROHIBITED, "role {role}: copy");
        assert_rv!(
            rv(h.copy(session, key, &Tmpl::new().ulong(CKA_FERRO_KEY_ROLE, 0).bool(CKA_TOKEN, false))),
            CKR_ACTION_PROHIBITED,
            "role {role}: copy as an ordinary key"
        );
        // Not extractable (§5.18 C_WrapKey), sensitive.
        let wrapped = h.wrap_key(session, CKM_AES_KEY_WRAP_KWP, wrap_with, key);
        assert_rv!(rv(wrapped), CKR_KEY_UNEXTRACTABLE, "role {role}: wrap");
        assert_rv!(rv(h.get(session, key, CKA_VALUE)), CKR_ATTRIBUTE_SENSITIVE, "role {role}: CKA_VALUE");
        // Still there, unchanged.
        assert_eq!(h.get(session, cert, CKA_VALUE).unwrap(), before);
        assert_eq!(one_by_role(&h, session, CKO_PRIVATE_KEY, role), key);
    }
}

// ---------------------------------------------------------------------------
// CKM_FERRO_KEY_ATTEST_CERT

/// docs/attestation.md, "Key attestation as a certificate": private and public keys
/// of RSA, EC P-256 and P-384 and Ed25519; the certificate is for the key, chains to
/// the root, and its claims describe the key and carry the nonce.
#[test]
fn key_attestation_certificates_for_every_asymmetric_key_type() {
    let (h, s) = Hsm::ready();
    let device_serial = {
        let c = read_chain(&h, 0);
        subject(c.root())["serialNumber"].clone()
    };
    let partition_serial = token_serial(&h, 0);
    let p256 = ec_pair(&h, s, P256, "p256", Tmpl::new().bool(CKA_SIGN, true).bytes(CKA_ID, b"\x01"));
    let p384 = ec_pair(&h, s, P384, "p384", Tmpl::new().bool(CKA_SIGN, true).bytes(CKA_ID, b"\x02"));
    let ed = ec_pair(&h, s, ED25519_OID, "ed25519", Tmpl::new().bool(CKA_SIGN, true).bytes(CKA_ID, b"\x03"));
    let rsa = rsa_pair(&h, s, "rsa");
    // (name, pair, key type, bits, curve OID)
    let keys = [
        ("P-256", p256, CKK_EC, 256, Some("1.2.840.10045.3.1.7")),
        ("P-384", p384, CKK_EC, 384, Some("1.3.132.0.34")),
        ("Ed25519", ed, CKK_EC_EDWARDS, 256, Some("1.3.101.112")),
        ("RSA", rsa, CKK_RSA, 2048, None),
    ];
    for (name, (public, private), kt, bits, curve) in keys {
        for (class, key) in [(CKO_PRIVATE_KEY, private), (CKO_PUBLIC_KEY, public)] {
            let what = format!("{name} {}", if class == CKO_PRIVATE_KEY { "private" } else { "public" });
            let nonce: Vec<u8> = (0..32u8).map(|i| i ^ key as u8).collect();
            let der = attest_cert(s, key, &nonce).unwrap_or_else(|rv| panic!("{what}: {rv:#x}"));
            // The key's own public key, as the key object shows it and openssl reads it.
            let spki = h.get(s, key, CKA_PUBLIC_KEY_INFO).unwrap();
            assert_eq!(cert_spki(&der), spki, "{what}: the certificate is for the key");
            let (ok, said) = verify_attested(&h, 0, &der, None);
            assert!(ok, "{what}: openssl verify: {said}");
            // The profile (docs/attestation.md, "attested key").
            let text = cert_text(&der);
            assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"), "{what}: signed by the P-256 key");
            let (critical, _) = extension(&text, KEY_ATTESTATION_OID).expect("the claims extension");
            assert!(!critical, "{what}: the claims are not critical");
            assert!(extension(&text, "X509v3 Basic Constraints").is_none(), "{what}: not a CA");
            assert!(text.contains("Not After : Dec 31 23:59:59 9999 GMT"), "{what}: no expiry\n{text}");
            let uid = String::from_utf8(h.get(s, key, CKA_UNIQUE_ID).unwrap()).unwrap();
            let subj = subject(&der);
            assert_eq!(subj["CN"], format!("ferrohsm attested key {uid}"), "{what}: CN");
            assert_eq!(subj["OU"], partition_serial, "{what}: OU is the partition");
            assert_eq!(subj["serialNumber"], device_serial, "{what}: serialNumber is the device");
            assert_eq!(subj["O"], "ferrohsm");
            assert_eq!(issuer(&der)["CN"], "ferrohsm partition 0 attestation");
            // The claims.
            let c = claims(&der);
            assert_eq!(c.version, 1);
            assert_eq!(c.nonce.as_ref().map(|n| n.as_bytes().to_vec()), Some(nonce.clone()), "{what}: nonce");
            assert_eq!(c.device.serial, device_serial, "{what}: device serial");
            assert_eq!(c.device.software, "ferrohsm");
            assert_eq!(c.device.version, env!("CARGO_PKG_VERSION"), "{what}: the module's version");
            assert_eq!(c.device.provider, provider(), "{what}: the crypto provider");
            assert_eq!(c.device.protection, Protection::Software);
            assert_eq!(c.partition.id, 0);
            assert_eq!(c.partition.serial, partition_serial);
            assert_eq!(c.partition.label, "test");
            assert_eq!(c.key.class, class, "{what}: class");
            assert_eq!(c.key.key_type, kt, "{what}: type");
            assert_eq!(c.key.bits, Some(bits), "{what}: bits");
            assert_eq!(c.key.curve.map(|o| o.to_string()).as_deref(), curve, "{what}: curve");
            assert_eq!(c.key.unique_id, uid, "{what}: unique id");
            assert_eq!(c.key.label, name.to_lowercase().replace('-', ""), "{what}: label");
            assert_eq!(c.key.id.as_bytes(), h.get(s, key, CKA_ID).unwrap(), "{what}: id");
            assert_eq!(c.key.origin, Origin::Generated, "{what}: origin");
            assert_eq!(c.key.security.local, Some(true), "{what}: local");
            assert_eq!(c.key.security.modifiable, Some(h.get_bool(s, key, CKA_MODIFIABLE)));
            assert_eq!(c.key.security.private, Some(h.get_bool(s, key, CKA_PRIVATE)), "{what}: private");
            if class == CKO_PRIVATE_KEY {
                assert_eq!(c.key.security.sensitive, Some(true), "{what}: sensitive");
                assert_eq!(c.key.security.always_sensitive, Some(true), "{what}: always sensitive");
                assert_eq!(c.key.security.extractable, Some(false), "{what}: extractable");
                assert_eq!(c.key.security.never_extractable, Some(true), "{what}: never extractable");
                assert_eq!(c.key.usage.sign, Some(true), "{what}: sign");
            } else {
                assert_eq!(c.key.usage.verify, Some(true), "{what}: verify");
            }
            let created = c.key.created.as_ref().unwrap_or_else(|| panic!("{what}: creation time"));
            assert_eq!(stamp(created), h.get(s, key, CKA_FERRO_CREATED).unwrap(), "{what}: CKA_FERRO_CREATED");
            assert_eq!(c.key.allowed_mechanisms, None, "{what}: any mechanism");
        }
    }
}

/// The output protocol (§5.2): the length query answers the exact length; a buffer
/// too small gets `CKR_BUFFER_TOO_SMALL` and the length, and the operation goes on.
#[test]
fn key_attestation_follows_the_output_length_protocol() {
    let (h, s) = Hsm::ready();
    let (_, private) = ec_pair(&h, s, P256, "k", Tmpl::new());
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_KEY_ATTEST_CERT), private), CKR_OK);
    let nonce = [7u8; 16];
    let mut small = [0u8; 16];
    let mut n = small.len() as CK_ULONG;
    assert_rv!(call!(C_Sign, s, nonce.as_ptr() as *mut _, 16, small.as_mut_ptr(), &mut n), CKR_BUFFER_TOO_SMALL);
    assert!(n > 300, "the length needed: {n}");
    let mut out = vec![0u8; n as usize + 100];
    let mut got = out.len() as CK_ULONG;
    assert_rv!(call!(C_Sign, s, nonce.as_ptr() as *mut _, 16, out.as_mut_ptr(), &mut got), CKR_OK);
    assert_eq!(got, n, "the certificate is as long as answered");
    out.truncate(got as usize);
    assert_eq!(claims(&out).nonce.map(|x| x.as_bytes().to_vec()), Some(nonce.to_vec()));
    // The certificate is DER exactly: openssl re-encodes it to the same bytes.
    assert_eq!(openssl(&["x509", "-inform", "DER", "-outform", "DER"], &out), out);
    // The operation has ended.
    assert_rv!(
        call!(C_Sign, s, nonce.as_ptr() as *mut _, 16, out.as_mut_ptr(), &mut got),
        CKR_OPERATION_NOT_INITIALIZED
    );

    // A length query, then a buffer too small, then the right one. The bytes are
    // those made at the query ("a length query returns the length of these very
    // bytes, and the next call returns them"), not made again: an ECDSA signature
    // and a random serial vary in length, so bytes made again may not fit. Made at
    // the query, their time is the query's, not a time after the pause.
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_KEY_ATTEST_CERT), private), CKR_OK);
    let mut n: CK_ULONG = 0;
    let before = unix_now();
    assert_rv!(call!(C_Sign, s, ptr::null_mut(), 0, ptr::null_mut(), &mut n), CKR_OK);
    let after = unix_now();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let mut m = n - 1;
    let mut out = vec![0u8; n as usize];
    assert_rv!(call!(C_Sign, s, ptr::null_mut(), 0, out.as_mut_ptr(), &mut m), CKR_BUFFER_TOO_SMALL);
    assert_eq!(m, n);
    assert_rv!(call!(C_Sign, s, ptr::null_mut(), 0, out.as_mut_ptr(), &mut m), CKR_OK);
    assert_eq!(m, n);
    let c = claims(&out);
    assert_eq!(c.nonce.map(|x| x.as_bytes().to_vec()), Some(vec![]), "an empty nonce is there, empty");
    let made = c.time.to_unix_duration().as_secs();
    assert!((before..=after).contains(&made), "made at the length query ({before}..={after}), not later ({made})");
}

/// Nonces of 0 to 64 bytes; 65 is `CKR_DATA_LEN_RANGE`, which ends the operation.
#[test]
fn key_attestation_nonces_are_0_to_64_bytes() {
    let (h, s) = Hsm::ready();
    let (_, private) = ec_pair(&h, s, P256, "k", Tmpl::new());
    for len in [0usize, 1, 63, 64] {
        let nonce: Vec<u8> = (0..len as u8).collect();
        let der = attest_cert(s, private, &nonce).unwrap_or_else(|rv| panic!("{len}-byte nonce: {rv:#x}"));
        assert_eq!(claims(&der).nonce.map(|n| n.as_bytes().to_vec()), Some(nonce), "{len}");
    }
    assert_rv!(rv(attest_cert(s, private, &[0u8; 65])), CKR_DATA_LEN_RANGE);
    let mut n = 0;
    assert_rv!(call!(C_Sign, s, ptr::null_mut(), 0, ptr::null_mut(), &mut n), CKR_OPERATION_NOT_INITIALIZED);
    // In parts too: the total counts.
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_KEY_ATTEST_CERT), private), CKR_OK);
    let (one, two) = ([1u8; 40], [2u8; 40]);
    assert_rv!(call!(C_SignUpdate, s, one.as_ptr() as *mut _, 40), CKR_OK);
    assert_rv!(call!(C_SignUpdate, s, two.as_ptr() as *mut _, 25), CKR_DATA_LEN_RANGE);
    assert_rv!(call!(C_SignFinal, s, ptr::null_mut(), &mut n), CKR_OPERATION_NOT_INITIALIZED, "it ended");
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_KEY_ATTEST_CERT), private), CKR_OK);
    assert_rv!(call!(C_SignUpdate, s, one.as_ptr() as *mut _, 40), CKR_OK);
    assert_rv!(call!(C_SignUpdate, s, two.as_ptr() as *mut _, 24), CKR_OK);
    let mut n = 0;
    assert_rv!(call!(C_SignFinal, s, ptr::null_mut(), &mut n), CKR_OK);
    let mut out = vec![0u8; n as usize];
    assert_rv!(call!(C_SignFinal, s, out.as_mut_ptr(), &mut n), CKR_OK);
    let want = [&one[..], &two[..24]].concat();
    assert_eq!(claims(&out).nonce.map(|n| n.as_bytes().to_vec()), Some(want));
    let (ok, said) = verify_attested(&h, 0, &out, None);
    assert!(ok, "{said}");
}

/// The key to attest is named, not used: it needs no `CKA_SIGN`, and a key limited
/// by `CKA_ALLOWED_MECHANISMS` to other mechanisms is attested all the same.
#[test]
fn the_attested_key_needs_no_sign_permission() {
    let (h, s) = Hsm::ready();
    let (_, no_sign) = ec_pair(&h, s, P256, "derive only", Tmpl::new().bool(CKA_SIGN, false).bool(CKA_DERIVE, true));
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_ECDSA), no_sign), CKR_KEY_FUNCTION_NOT_PERMITTED);
    let der = attest_cert(s, no_sign, b"n").expect("a key without CKA_SIGN is attested");
    let c = claims(&der);
    assert_eq!(c.key.usage.sign, Some(false));
    assert_eq!(c.key.usage.derive, Some(true));
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");

    let (_, limited) =
        ec_pair(&h, s, P256, "limited", Tmpl::new().bytes(CKA_ALLOWED_MECHANISMS, &CKM_ECDSA.to_ne_bytes()));
    let der = attest_cert(s, limited, b"n").expect("a key limited to CKM_ECDSA is attested");
    assert_eq!(claims(&der).key.allowed_mechanisms, Some(vec![CKM_ECDSA]));
}

/// The partition's claims are its policy as the partition object shows it, after
/// its SO changed it, in the certificate and in the evidence.
#[test]
fn the_claims_carry_the_partition_policy() {
    let (h, s) = Hsm::ready();
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    let obj = h.find(s, &Tmpl::new().class(CKO_FERRO_PARTITION).ulong(CKA_FERRO_SLOT_ID, 0));
    assert_eq!(obj.len(), 1, "the partition's own object");
    // Away from the defaults, so that claims made of defaults do not pass.
    let export = !h.get_bool(s, obj[0], CKA_FERRO_POLICY_ALLOW_EXPORT);
    assert_ne!(h.get_ulong(s, obj[0], CKA_FERRO_POLICY_MAX_PIN_FAILURES), 3);
    assert_ne!(h.get_ulong(s, obj[0], CKA_FERRO_POLICY_MIN_PIN_LEN), 6);
    let changes = Tmpl::new()
        .ulong(CKA_FERRO_POLICY_MIN_PIN_LEN, 6)
        .ulong(CKA_FERRO_POLICY_MAX_PIN_FAILURES, 3)
        .bool(CKA_FERRO_POLICY_ALLOW_EXPORT, export);
    assert_rv!(h.set(s, obj[0], &changes), CKR_OK);
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let policy = (
        h.get_bool(s, obj[0], CKA_FERRO_POLICY_ALLOW_EXPORT),
        h.get_bool(s, obj[0], CKA_FERRO_POLICY_KEY_INVALIDATION),
        h.get_bool(s, obj[0], CKA_FERRO_POLICY_READ_ONLY),
        h.get_ulong(s, obj[0], CKA_FERRO_POLICY_MAX_PIN_FAILURES),
        h.get_ulong(s, obj[0], CKA_FERRO_POLICY_MIN_PIN_LEN),
    );
    assert_eq!((policy.0, policy.3, policy.4), (export, 3, 6), "the SO's changes took");

    let (_, k) = ec_pair(&h, s, P256, "k", Tmpl::new());
    let p = claims(&attest_cert(s, k, b"").unwrap()).partition.policy;
    assert_eq!((p.allow_export, p.key_invalidation, p.read_only, p.max_pin_failures, p.min_pin_len), policy);
    let (json, _) = evidence_json(&h, s, k, b"");
    let p = &json["partition"]["policy"];
    assert_eq!(p["allow_export"], policy.0);
    assert_eq!(p["key_invalidation"], policy.1);
    assert_eq!(p["read_only"], policy.2);
    assert_eq!(p["max_pin_failures"], policy.3);
    assert_eq!(p["min_pin_len"], policy.4);
}

/// What cannot be attested as a certificate, and who may attest: a secret key has no
/// public key (`CKR_KEY_TYPE_INCONSISTENT`); a private key is invisible without the
/// user (§5.6 C_Logout: its handles become invalid), while its public key may be
/// attested by anyone; a parameter is refused; the admin token attests no keys.
#[test]
fn key_attestation_refusals() {
    let (h, s) = Hsm::ready();
    let (public, private) = ec_pair(&h, s, P256, "k", Tmpl::new());
    let secret = generate_aes(&h, s, Tmpl::new().token(true));
    assert_rv!(rv(attest_cert(s, secret, b"")), CKR_KEY_TYPE_INCONSISTENT, "a secret key");
    let mut param = [0u8; 4];
    let mut with_param = CK_MECHANISM {
        mechanism: CKM_FERRO_KEY_ATTEST_CERT,
        pParameter: param.as_mut_ptr() as *mut _,
        ulParameterLen: 4,
    };
    assert_rv!(call!(C_SignInit, s, &mut with_param, private), CKR_MECHANISM_PARAM_INVALID, "a parameter");
    assert_rv!(call!(C_SignInit, s, &mut mech(CKM_FERRO_KEY_ATTEST_CERT), 0x7fff_ffff), CKR_KEY_HANDLE_INVALID);

    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(rv(attest_cert(s, private, b"")), CKR_KEY_HANDLE_INVALID, "a private key with nobody logged in");
    let der = attest_cert(s, public, b"").expect("a public key needs no login");
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");
    // The partition SO sees no private keys either.
    assert_rv!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    let found = h.find(s, &Tmpl::new().class(CKO_PRIVATE_KEY).label("k"));
    assert!(found.is_empty(), "the SO does not see the user's private key");
    assert_rv!(rv(attest_cert(s, private, b"")), CKR_KEY_HANDLE_INVALID, "a private key, SO logged in");
    assert_rv!(call!(C_Logout, s), CKR_OK);

    // The admin token has no attestation key of its own.
    let so = h.device_so();
    let audit = one_by_role(&h, so, CKO_PUBLIC_KEY, ROLE_AUDIT);
    assert_rv!(rv(attest_cert(so, audit, b"")), CKR_MECHANISM_INVALID, "on the admin token");
}

// ---------------------------------------------------------------------------
// Claims that cannot lie (docs/attestation.md)

/// An imported key is `imported`, never `local`, never always sensitive or never
/// extractable; a template that claims `CKA_LOCAL` is refused (§4.9 footnote 2).
#[test]
fn an_imported_key_claims_imported_and_not_local() {
    let (h, s) = Hsm::ready();
    let pkcs8 =
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-outform", "DER"], &[]);
    let ec = openssl(&["ec", "-inform", "DER", "-outform", "DER"], &pkcs8);
    let spki = openssl(&["pkey", "-inform", "DER", "-pubout", "-outform", "DER"], &pkcs8);
    // ECPrivateKey ::= SEQUENCE { version INTEGER, privateKey OCTET STRING, ... }
    assert_eq!(&ec[..2], [0x30, ec.len() as u8 - 2], "a short ECPrivateKey");
    assert_eq!(&ec[2..7], [0x02, 0x01, 0x01, 0x04, 0x20]);
    let d = &ec[7..39];
    let import = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .token(true)
        .label("imported")
        .bytes(CKA_EC_PARAMS, P256)
        .bytes(CKA_VALUE, d)
        .bool(CKA_SIGN, true);
    for (ty, v) in [(CKA_LOCAL, 1u8), (CKA_ALWAYS_SENSITIVE, 1), (CKA_NEVER_EXTRACTABLE, 1)] {
        assert_rv!(
            rv(h.create(s, &import.clone().bytes(ty, &[v]))),
            CKR_ATTRIBUTE_READ_ONLY,
            "{ty:#x} in the template"
        );
    }
    assert_rv!(
        rv(h.create(s, &import.clone().ulong(CKA_FERRO_ORIGIN, ORIGIN_GENERATED))),
        CKR_ATTRIBUTE_READ_ONLY,
        "CKA_FERRO_ORIGIN in the template"
    );
    let k = h.create(s, &import).unwrap();
    assert!(h.get_bool(s, k, CKA_SENSITIVE) && !h.get_bool(s, k, CKA_EXTRACTABLE), "sensitive, unextractable now");
    let der = attest_cert(s, k, b"import").unwrap();
    assert_eq!(cert_spki(&der), spki, "the certificate is for the imported key");
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");
    let c = claims(&der).key;
    assert_eq!(c.origin, Origin::Imported);
    assert_eq!(c.security.local, Some(false));
    assert_eq!(c.security.sensitive, Some(true));
    assert_eq!(c.security.always_sensitive, Some(false), "it was outside the token in the clear");
    assert_eq!(c.security.extractable, Some(false));
    assert_eq!(c.security.never_extractable, Some(false), "it was outside the token");
    // And no birth certificate: it was not born here.
    assert!(h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:imported")).is_empty());
}

/// A key generated extractable and then made unextractable does not claim
/// `never_extractable`.
#[test]
fn a_key_once_extractable_never_claims_never_extractable() {
    let (h, s) = Hsm::ready();
    let (_, k) = ec_pair(&h, s, P256, "was extractable", Tmpl::new().bool(CKA_EXTRACTABLE, true));
    let c = claims(&attest_cert(s, k, b"1").unwrap()).key;
    assert_eq!((c.security.extractable, c.security.never_extractable), (Some(true), Some(false)));
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_EXTRACTABLE, false)), CKR_OK);
    let c = claims(&attest_cert(s, k, b"2").unwrap()).key;
    assert_eq!(c.security.extractable, Some(false), "unextractable now");
    assert_eq!(c.security.never_extractable, Some(false), "but it was extractable once");
    assert_eq!(c.origin, Origin::Generated);
    assert_eq!(c.security.local, Some(true));
}

/// A key generated not sensitive and then made sensitive does not claim
/// `always_sensitive`.
#[test]
fn a_key_once_not_sensitive_never_claims_always_sensitive() {
    let (h, s) = Hsm::ready();
    let (_, k) = ec_pair(&h, s, P256, "was readable", Tmpl::new().bool(CKA_SENSITIVE, false));
    let c = claims(&attest_cert(s, k, b"1").unwrap()).key;
    assert_eq!((c.security.sensitive, c.security.always_sensitive), (Some(false), Some(false)));
    assert_rv!(h.set(s, k, &Tmpl::new().bool(CKA_SENSITIVE, true)), CKR_OK);
    let c = claims(&attest_cert(s, k, b"2").unwrap()).key;
    assert_eq!(c.security.sensitive, Some(true), "sensitive now");
    assert_eq!(c.security.always_sensitive, Some(false), "but it was readable once");
}

/// A `C_CopyObject` copy is `copied`, whatever the original was.
#[test]
fn a_copy_claims_copied() {
    let (h, s) = Hsm::ready();
    let (_, k) = ec_pair(&h, s, P256, "original", Tmpl::new());
    let copy = h.copy(s, k, &Tmpl::new().label("copy")).unwrap();
    assert_rv!(
        rv(h.copy(s, k, &Tmpl::new().ulong(CKA_FERRO_ORIGIN, ORIGIN_GENERATED))),
        CKR_ATTRIBUTE_READ_ONLY,
        "the origin is not the caller's to give"
    );
    let der = attest_cert(s, copy, b"copy").unwrap();
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");
    let c = claims(&der).key;
    assert_eq!(c.origin, Origin::Copied);
    assert_eq!(c.label, "copy");
    assert_eq!(c.unique_id.as_bytes(), h.get(s, copy, CKA_UNIQUE_ID).unwrap());
    assert_ne!(h.get(s, copy, CKA_UNIQUE_ID).unwrap(), h.get(s, k, CKA_UNIQUE_ID).unwrap());
    assert_eq!(claims(&attest_cert(s, k, b"").unwrap()).key.origin, Origin::Generated, "the original is unchanged");
}

/// A key that came in wrapped is `unwrapped`, not local, not always sensitive, not
/// never extractable, whatever the template asks.
#[test]
fn an_unwrapped_key_claims_unwrapped() {
    let (h, s) = Hsm::ready();
    let kek = generate_aes(&h, s, Tmpl::new().token(true).bool(CKA_WRAP, true).bool(CKA_UNWRAP, true));
    let (public, k) = ec_pair(&h, s, P256, "to wrap", Tmpl::new().bool(CKA_EXTRACTABLE, true));
    let wrapped = h.wrap_key(s, CKM_AES_KEY_WRAP_KWP, kek, k).expect("wrap");
    let t = Tmpl::new()
        .class(CKO_PRIVATE_KEY)
        .ulong(CKA_KEY_TYPE, CKK_EC)
        .token(true)
        .label("unwrapped")
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_EXTRACTABLE, false);
    // The template may not claim what the token did not do (§4.2 footnote 6).
    for (ty, v) in [(CKA_LOCAL, 1u8), (CKA_ALWAYS_SENSITIVE, 1), (CKA_NEVER_EXTRACTABLE, 1)] {
        let claimed = h.unwrap_key(s, CKM_AES_KEY_WRAP_KWP, kek, &wrapped, &t.clone().bytes(ty, &[v]));
        assert_rv!(rv(claimed), CKR_ATTRIBUTE_READ_ONLY, "{ty:#x} in the template");
    }
    let claimed = t.clone().ulong(CKA_FERRO_ORIGIN, ORIGIN_GENERATED);
    assert_rv!(rv(h.unwrap_key(s, CKM_AES_KEY_WRAP_KWP, kek, &wrapped, &claimed)), CKR_ATTRIBUTE_READ_ONLY, "origin");
    let back = h.unwrap_key(s, CKM_AES_KEY_WRAP_KWP, kek, &wrapped, &t).expect("unwrap");
    let der = attest_cert(s, back, b"unwrapped").unwrap();
    assert_eq!(cert_spki(&der), h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap(), "the same key");
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");
    let c = claims(&der).key;
    assert_eq!(c.origin, Origin::Unwrapped);
    assert_eq!(c.security.local, Some(false));
    assert_eq!(c.security.sensitive, Some(true));
    assert_eq!(c.security.always_sensitive, Some(false));
    assert_eq!(c.security.extractable, Some(false));
    assert_eq!(c.security.never_extractable, Some(false));
}

/// A key derived by ECDH is `derived` and not local; its evidence (a secret key has
/// no certificate) says so.
#[test]
fn a_derived_key_claims_derived() {
    let (h, s) = Hsm::ready();
    let (_, base) = ec_pair(&h, s, P256, "base", Tmpl::new().bool(CKA_DERIVE, true));
    let (peer, _) = ec_pair(&h, s, P256, "peer", Tmpl::new());
    // The peer's point: CKA_EC_POINT is a DER OCTET STRING around it.
    let ec_point = h.get(s, peer, CKA_EC_POINT).unwrap();
    assert_eq!(&ec_point[..2], [0x04, 65]);
    let point = ec_point[2..].to_vec();
    let mut params = CK_ECDH1_DERIVE_PARAMS {
        kdf: CKD_NULL,
        ulSharedDataLen: 0,
        pSharedData: ptr::null_mut(),
        ulPublicDataLen: point.len() as CK_ULONG,
        pPublicData: point.as_ptr() as *mut _,
    };
    let mut m = CK_MECHANISM {
        mechanism: CKM_ECDH1_DERIVE,
        pParameter: &mut params as *mut _ as *mut _,
        ulParameterLen: size_of::<CK_ECDH1_DERIVE_PARAMS>() as CK_ULONG,
    };
    let t = Tmpl::new()
        .class(CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .ulong(CKA_VALUE_LEN, 32)
        .token(true)
        .label("derived")
        .bool(CKA_ENCRYPT, true);
    let derive = |t: &Tmpl, m: &mut CK_MECHANISM| {
        let mut a = t.attrs();
        let mut k = 0;
        match call!(C_DeriveKey, s, m, base, a.as_mut_ptr(), a.len() as CK_ULONG, &mut k) {
            CKR_OK => Ok(k),
            rv => Err(rv),
        }
    };
    let claimed = t.clone().ulong(CKA_FERRO_ORIGIN, ORIGIN_GENERATED);
    assert_rv!(rv(derive(&claimed, &mut m)), CKR_ATTRIBUTE_READ_ONLY, "the origin is not the template's to give");
    let derived = derive(&t, &mut m).expect("ECDH");
    let (json, _) = evidence_json(&h, s, derived, b"derived");
    assert_eq!(json["key"]["origin"], "derived");
    assert_eq!(json["key"]["security"]["local"], false);
    assert_eq!(json["key"]["class"], "secret");
    assert_eq!(json["key"]["label"], "derived");
}

// ---------------------------------------------------------------------------
// CKM_FERRO_KEY_ATTEST_EVIDENCE

/// Evidence for `key`: the CMS verified by `openssl cms -verify` against the token's
/// root (no `-purpose`: docs/attestation.md says the chain carries emailProtection
/// for this), and the JSON it prints. Also returns the DER.
fn evidence_json(h: &Hsm, s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, nonce: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let der = sign(s, CKM_FERRO_KEY_ATTEST_EVIDENCE, key, nonce).unwrap_or_else(|rv| panic!("evidence: {rv:#x}"));
    let dir = tempfile::tempdir().unwrap();
    let root = pem_file(dir.path(), "root", read_chain(h, 0).root());
    let ev = dir.path().join("ev.der");
    std::fs::write(&ev, &der).unwrap();
    let r = run_openssl(&["cms", "-verify", "-inform", "DER", "-in", path(&ev), "-CAfile", path(&root)], &[]);
    assert!(r.ok && r.stderr.contains("Verification successful"), "openssl cms -verify: {}", r.stderr);
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).expect("the content is JSON");
    (json, der)
}

/// docs/attestation.md, "Key attestation as signed evidence": an AES key's evidence
/// verifies with stock `openssl cms -verify` and carries the key's check value and
/// origin, the nonce, the device and the partition.
#[test]
fn evidence_for_a_secret_key_verifies_with_openssl_cms() {
    let (h, s) = Hsm::ready();
    let k = generate_aes(&h, s, Tmpl::new().token(true).label("kek").bytes(CKA_ID, b"\x01").bool(CKA_WRAP, true));
    let nonce = [0x00u8, 0x11, 0x22, 0x33];
    let (json, der) = evidence_json(&h, s, k, &nonce);
    let check = h.get(s, k, CKA_CHECK_VALUE).unwrap();
    assert_eq!(check.len(), 3);
    let key = &json["key"];
    assert_eq!(key["check_value"], hex(&check), "the key's CKA_CHECK_VALUE");
    assert_eq!(key["origin"], "generated");
    assert_eq!(key["class"], "secret");
    assert_eq!(key["type"], "AES");
    assert_eq!(key["bits"], 256);
    assert_eq!(key["id"], "01");
    assert_eq!(key["label"], "kek");
    assert_eq!(key["unique_id"], String::from_utf8(h.get(s, k, CKA_UNIQUE_ID).unwrap()).unwrap());
    assert_eq!(key["security"]["local"], true);
    assert_eq!(key["security"]["never_extractable"], true);
    assert_eq!(key["usage"]["wrap"], true);
    assert!(key.get("public_key_info").is_none(), "a secret key has no public key");
    assert_eq!(json["version"], 1);
    assert_eq!(json["type"], "key");
    assert_eq!(json["nonce"], "00112233");
    assert_eq!(json["device"]["protection"], "software");
    assert_eq!(json["device"]["serial"], subject(read_chain(&h, 0).root())["serialNumber"].as_str());
    assert_eq!(json["partition"]["id"], 0);
    assert_eq!(json["partition"]["serial"], token_serial(&h, 0));
    assert_eq!(json["partition"]["label"], "test");

    // The signer is the partition attestation key: its certificate is in the set,
    // and openssl names it as the signer.
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("ev.der");
    std::fs::write(&ev, &der).unwrap();
    let signer = dir.path().join("signer.pem");
    let root = pem_file(dir.path(), "root", read_chain(&h, 0).root());
    openssl(
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            path(&ev),
            "-CAfile",
            path(&root),
            "-signer",
            path(&signer),
            "-out",
            "/dev/null",
        ],
        &[],
    );
    let signer_der = openssl(&["x509", "-in", path(&signer), "-outform", "DER"], &[]);
    assert_eq!(signer_der, read_chain(&h, 0).partition);
    // A root with the same name but another key does not verify it.
    let other_root = impostor_root(dir.path(), read_chain(&h, 0).root());
    let r = run_openssl(&["cms", "-verify", "-inform", "DER", "-in", path(&ev), "-CAfile", path(&other_root)], &[]);
    assert!(!r.ok, "evidence does not verify against another root");
}

/// A self-signed P-384 certificate with the same subject as `root`, another key.
fn impostor_root(dir: &Path, root: &[u8]) -> PathBuf {
    let serial = subject(root)["serialNumber"].clone();
    let p = dir.join("impostor.pem");
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/O=ferrohsm/CN=ferrohsm root {serial}/serialNumber={serial}"),
            "-keyout",
            path(&dir.join("impostor.key")),
            "-out",
            path(&p),
        ],
        &[],
    );
    assert_eq!(subject(&openssl(&["x509", "-in", path(&p), "-outform", "DER"], &[])), subject(root));
    p
}

/// Evidence for an asymmetric key carries its public key info.
#[test]
fn evidence_for_a_key_pair_carries_its_public_key() {
    let (h, s) = Hsm::ready();
    let (public, private) = ec_pair(&h, s, P384, "pair", Tmpl::new());
    for key in [private, public] {
        let (json, _) = evidence_json(&h, s, key, b"");
        assert_eq!(json["key"]["public_key_info"], hex(&h.get(s, key, CKA_PUBLIC_KEY_INFO).unwrap()));
        assert_eq!(json["key"]["curve"], "P-384");
        assert_eq!(json["key"]["type"], "EC");
        assert!(json["key"].get("check_value").is_none());
    }
}

// ---------------------------------------------------------------------------
// Birth certificates

/// docs/attestation.md, "Birth certificates": a token key pair comes with its
/// attestation certificate, readable by anyone, verifiable with openssl, and gone
/// with the private key.
#[test]
fn a_generated_key_pair_is_born_with_its_attestation_certificate() {
    let (mut h, s) = Hsm::ready();
    let (public, private) = ec_pair(&h, s, P256, "mykey", Tmpl::new().bytes(CKA_ID, b"\x01"));
    let uid = h.get(s, private, CKA_UNIQUE_ID).unwrap();
    let certs = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:mykey"));
    assert_eq!(certs.len(), 1, "one birth certificate");
    let cert = certs[0];
    assert_eq!(h.get_ulong(s, cert, CKA_CERTIFICATE_TYPE), CKC_X_509);
    assert_eq!(h.get(s, cert, CKA_ID).unwrap(), b"", "an empty CKA_ID: it is not the key's own certificate");
    assert_eq!(h.get(s, cert, CKA_FERRO_ATTESTS).unwrap(), uid, "CKA_FERRO_ATTESTS is the private key's unique id");
    assert!(h.get_bool(s, cert, CKA_TOKEN));
    assert!(!h.get_bool(s, cert, CKA_PRIVATE), "public");
    // Nothing pairs it with the key by CKA_ID.
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).bytes(CKA_ID, b"\x01")), Vec::<CK_OBJECT_HANDLE>::new());
    let der = h.get(s, cert, CKA_VALUE).unwrap();
    assert_eq!(cert_spki(&der), h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap());
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");
    let c = claims(&der);
    assert_eq!(c.nonce, None, "a birth certificate has no nonce");
    assert_eq!(c.key.class, CKO_PRIVATE_KEY);
    assert_eq!(c.key.unique_id.as_bytes(), uid);
    assert_eq!(c.key.origin, Origin::Generated);
    assert_eq!(c.key.security.local, Some(true));
    assert_eq!(c.key.security.never_extractable, Some(true));

    // Anyone reads it, after a restart too.
    h.restart();
    let r = h.open(0, false);
    let found = h.find(r, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:mykey"));
    assert_eq!(found.len(), 1, "found with nobody logged in");
    assert_eq!(h.get(r, found[0], CKA_VALUE).unwrap(), der);

    // Gone with its private key (not with the public key).
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let public = h.find(s, &Tmpl::new().class(CKO_PUBLIC_KEY).label("mykey"))[0];
    let private = h.find(s, &Tmpl::new().class(CKO_PRIVATE_KEY).label("mykey"))[0];
    assert_rv!(h.destroy(s, public), CKR_OK);
    assert_eq!(h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:mykey")).len(), 1);
    assert_rv!(h.destroy(s, private), CKR_OK);
    assert!(h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:mykey")).is_empty());
    assert!(h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).bytes(CKA_FERRO_ATTESTS, &uid)).is_empty());
    h.restart();
    let r = h.open(0, false);
    assert!(h.find(r, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:mykey")).is_empty(), "for good");
}

/// Every key type gets one; a key pair with no label is named by its unique id.
#[test]
fn birth_certificates_for_every_key_type_and_unlabelled_keys() {
    let (h, s) = Hsm::ready();
    let rsa = rsa_pair(&h, s, "rsa");
    let ed = ec_pair(&h, s, ED25519_OID, "ed", Tmpl::new());
    for (label, (public, _)) in [("rsa", rsa), ("ed", ed)] {
        let c = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label(&format!("attestation:{label}")));
        assert_eq!(c.len(), 1, "{label}");
        let der = h.get(s, c[0], CKA_VALUE).unwrap();
        assert_eq!(cert_spki(&der), h.get(s, public, CKA_PUBLIC_KEY_INFO).unwrap(), "{label}");
        let (ok, said) = verify_attested(&h, 0, &der, None);
        assert!(ok, "{label}: {said}");
    }
    // No label.
    let public = Tmpl::new().token(true).bytes(CKA_EC_PARAMS, P256);
    let (_, private) = h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &Tmpl::new().token(true)).unwrap();
    let uid = h.get(s, private, CKA_UNIQUE_ID).unwrap();
    let mut label = b"attestation:".to_vec();
    label.extend_from_slice(&uid);
    let c = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).bytes(CKA_LABEL, &label));
    assert_eq!(c.len(), 1, "attestation:<unique id>");
    assert_eq!(h.get(s, c[0], CKA_FERRO_ATTESTS).unwrap(), uid);
}

/// A session key pair's birth certificate is a session object like the private key
/// (docs/attestation.md: "`CKA_TOKEN` as the private key's"), and ends with it.
#[test]
fn a_session_key_pair_gets_a_session_birth_certificate() {
    let (h, s) = Hsm::ready();
    let other = h.open(0, true);
    let public = Tmpl::new().token(false).label("ephemeral").bytes(CKA_EC_PARAMS, P256);
    let private = Tmpl::new().token(false).label("ephemeral");
    let (_, k) = h.generate_pair(other, CKM_EC_KEY_PAIR_GEN, &public, &private).unwrap();
    let c = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:ephemeral"));
    assert_eq!(c.len(), 1);
    assert!(!h.get_bool(s, c[0], CKA_TOKEN), "a session object");
    assert_eq!(h.get(s, c[0], CKA_FERRO_ATTESTS).unwrap(), h.get(s, k, CKA_UNIQUE_ID).unwrap());
    let (ok, said) = verify_attested(&h, 0, &h.get(s, c[0], CKA_VALUE).unwrap(), None);
    assert!(ok, "{said}");
    assert_rv!(call!(C_CloseSession, other), CKR_OK);
    assert!(h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:ephemeral")).is_empty());
}

// ---------------------------------------------------------------------------
// Partitions

/// Re-initialising a partition keeps its attestation and timestamp keys
/// (docs/attestation.md, "The chain"), and attestations still chain.
#[test]
fn reinitialising_a_partition_keeps_its_chain_keys() {
    let (h, s) = Hsm::ready();
    let before = read_chain(&h, 0);
    let key_uid = |h: &Hsm, s, role| h.get(s, one_by_role(h, s, CKO_PRIVATE_KEY, role), CKA_UNIQUE_ID).unwrap();
    let uids = (key_uid(&h, s, ROLE_PARTITION), key_uid(&h, s, ROLE_TIMESTAMP));
    ec_pair(&h, s, P256, "user key", Tmpl::new());
    assert_rv!(call!(C_CloseAllSessions, 0), CKR_OK);
    h.init_token(0, SO_PIN, "again");
    h.init_user(0, USER_PIN);
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    assert!(h.find(s, &Tmpl::new().label("user key")).is_empty(), "the user's keys are gone");
    let after = read_chain(&h, 0);
    assert_eq!(after.partition, before.partition, "the same attestation certificate");
    assert_eq!(after.timestamp, before.timestamp, "the same timestamp certificate");
    assert_eq!((key_uid(&h, s, ROLE_PARTITION), key_uid(&h, s, ROLE_TIMESTAMP)), uids, "the same keys");
    let (_, k) = ec_pair(&h, s, P256, "new key", Tmpl::new());
    let der = attest_cert(s, k, b"").unwrap();
    let (ok, said) = verify_attested(&h, 0, &der, None);
    assert!(ok, "{said}");
    assert_eq!(claims(&der).partition.label, "again");
}

/// A new partition gets its own attestation and timestamp keys, certified by the
/// same device key.
#[test]
fn a_new_partition_gets_its_own_chain_keys_under_the_same_device() {
    let (h, _) = Hsm::ready();
    let so = h.device_so();
    let obj = h.create(so, &Tmpl::new().class(CKO_FERRO_PARTITION).token(true).label("second")).unwrap();
    assert_eq!(h.get_ulong(so, obj, CKA_FERRO_SLOT_ID), 1);
    h.init_token(1, SO_PIN, "second");
    h.init_user(1, USER_PIN);
    let first = read_chain(&h, 0);
    let second = read_chain(&h, 1);
    assert_eq!(second.root(), first.root());
    assert_eq!(second.device, first.device);
    assert_ne!(second.partition, first.partition);
    assert_ne!(cert_spki(&second.partition), cert_spki(&first.partition), "its own key");
    assert_ne!(cert_spki(&second.timestamp), cert_spki(&first.timestamp), "its own key");
    let subj = subject(&second.partition);
    assert_eq!(subj["CN"], "ferrohsm partition 1 attestation");
    assert_eq!(subj["OU"], token_serial(&h, 1));
    assert_eq!(subject(&second.timestamp)["CN"], "ferrohsm partition 1 timestamp");
    let dir = tempfile::tempdir().unwrap();
    let root = pem_file(dir.path(), "root", first.root());
    let chain = bundle(dir.path(), "chain", &[&first.device]);
    for (name, der) in [("partition", &second.partition), ("timestamp", &second.timestamp)] {
        let (ok, said) = openssl_verify(&root, Some(&chain), &pem_file(dir.path(), name, der));
        assert!(ok, "{name}: {said}");
    }

    let s1 = h.open(1, true);
    assert_rv!(h.login(s1, CKU_USER, USER_PIN), CKR_OK);
    let (_, k) = ec_pair(&h, s1, P256, "k1", Tmpl::new());
    let der = attest_cert(s1, k, b"").unwrap();
    assert_eq!(issuer(&der)["CN"], "ferrohsm partition 1 attestation");
    let (ok, said) = verify_attested(&h, 1, &der, None);
    assert!(ok, "{said}");
    // Not through the first partition's attestation key.
    let (ok, _) = verify_attested(&h, 0, &der, None);
    assert!(!ok, "partition 0's chain does not verify partition 1's attestation");
    let c = claims(&der);
    assert_eq!(c.partition.id, 1);
    assert_eq!(c.partition.serial, token_serial(&h, 1));
    assert_eq!(c.partition.label, "second");
}

// ---------------------------------------------------------------------------
// CKM_FERRO_DEVICE_CSR

/// The device key's request: made by the device SO on the admin token, verified by
/// openssl, for the device key, with the device's name or the one given.
#[test]
fn the_device_so_gets_a_request_for_the_device_key() {
    let (h, s) = Hsm::ready();
    let so = h.device_so();
    let key = one_by_role(&h, so, CKO_PRIVATE_KEY, ROLE_DEVICE);
    let device_cert = role_cert(&h, so, ROLE_DEVICE);
    let csr = sign(so, CKM_FERRO_DEVICE_CSR, key, &[]).expect("the device CSR");
    let r = run_openssl(&["req", "-inform", "DER", "-verify", "-noout", "-subject", "-nameopt", "RFC2253"], &csr);
    assert!(r.ok, "openssl req -verify: {}", r.stderr);
    let subj = name_map(r.text().lines().find_map(|l| l.strip_prefix("subject=")).expect("subject"));
    assert_eq!(subj, subject(&device_cert), "the device's own name");
    let pem = openssl(&["req", "-inform", "DER", "-noout", "-pubkey"], &csr);
    let spki = openssl(&["pkey", "-pubin", "-outform", "DER"], &pem);
    assert_eq!(spki, cert_spki(&device_cert), "the device key");

    // A subject of the operator's: Name ::= SEQUENCE OF RDN; here O=ACME, CN=hsm 7.
    let rdn = |oid: &[u8], v: &str| {
        let mut atv = vec![0x06, oid.len() as u8];
        atv.extend_from_slice(oid);
        atv.extend([0x0c, v.len() as u8]);
        atv.extend_from_slice(v.as_bytes());
        let mut seq = vec![0x30, atv.len() as u8];
        seq.extend(atv);
        let mut set = vec![0x31, seq.len() as u8];
        set.extend(seq);
        set
    };
    let body = [rdn(&[0x55, 0x04, 0x0a], "ACME"), rdn(&[0x55, 0x04, 0x03], "hsm 7")].concat();
    let mut name = vec![0x30, body.len() as u8];
    name.extend(body);
    let csr = sign(so, CKM_FERRO_DEVICE_CSR, key, &name).expect("a CSR with a subject");
    let r = run_openssl(&["req", "-inform", "DER", "-verify", "-noout", "-subject", "-nameopt", "RFC2253"], &csr);
    assert!(r.ok, "openssl req -verify: {}", r.stderr);
    assert!(r.text().contains("subject=CN=hsm 7,O=ACME"), "{}", r.text());
    // Not a Name.
    assert_rv!(rv(sign(so, CKM_FERRO_DEVICE_CSR, key, b"CN=hsm")), CKR_DATA_INVALID);
    // Only the device key.
    let root_key = one_by_role(&h, so, CKO_PRIVATE_KEY, ROLE_ROOT);
    assert_ne!(rv(sign(so, CKM_FERRO_DEVICE_CSR, root_key, &[])), CKR_OK, "the root key makes no device CSR");

    // Only the device SO.
    assert_rv!(call!(C_Logout, so), CKR_OK);
    assert_rv!(rv(sign(so, CKM_FERRO_DEVICE_CSR, key, &[])), CKR_USER_NOT_LOGGED_IN, "nobody logged in");
    // A partition's user cannot name a partition key for it either.
    let part_key = one_by_role(&h, s, CKO_PRIVATE_KEY, ROLE_PARTITION);
    assert_ne!(rv(sign(s, CKM_FERRO_DEVICE_CSR, part_key, &[])), CKR_OK, "in a partition");
}

// ---------------------------------------------------------------------------
// An outside CA

/// A CA made by openssl in `dir`: a self-signed P-256 root (`ca.pem`, `ca.key`).
fn outside_ca(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/O=Outside/CN=Outside Root",
            "-keyout",
            path(&key),
            "-out",
            path(&cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &[],
    );
    (cert, key)
}

/// The CA issues a device certificate for the request `csr` (DER), with the
/// extensions docs/attestation.md asks for; DER.
fn issue_device_cert(dir: &Path, ca: &(PathBuf, PathBuf), csr: &[u8]) -> Vec<u8> {
    let csr_pem = dir.join("dev.csr");
    std::fs::write(&csr_pem, openssl(&["req", "-inform", "DER", "-outform", "PEM"], csr)).unwrap();
    let ext = dir.join("ext.cnf");
    std::fs::write(
        &ext,
        format!(
            "[dev]\nbasicConstraints = critical, CA:TRUE, pathlen:1\n\
             keyUsage = critical, keyCertSign, cRLSign, digitalSignature\n\
             extendedKeyUsage = {PURPOSE}, emailProtection\n\
             subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
        ),
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            path(&csr_pem),
            "-CA",
            path(&ca.0),
            "-CAkey",
            path(&ca.1),
            "-set_serial",
            "7",
            "-days",
            "3650",
            "-extfile",
            path(&ext),
            "-extensions",
            "dev",
            "-outform",
            "DER",
        ],
        &[],
    )
}

/// A role certificate to import.
fn role_import(der: &[u8], role: CK_ULONG) -> Tmpl {
    Tmpl::new()
        .class(CKO_CERTIFICATE)
        .ulong(CKA_CERTIFICATE_TYPE, CKC_X_509)
        .token(true)
        .bytes(CKA_VALUE, der)
        .ulong(CKA_FERRO_KEY_ROLE, role)
}

/// docs/attestation.md, "The device key certified by an outside CA": the CSR goes
/// out, the CA's certificate comes in (role 2, checked against the device key), its
/// root with it (role 1), and attestations chain to that CA from then on.
#[test]
fn an_outside_ca_certifies_the_device_key() {
    let (mut h, s) = Hsm::ready();
    let dir = tempfile::tempdir().unwrap();
    let old = read_chain(&h, 0);
    let so = h.device_so();
    let key = one_by_role(&h, so, CKO_PRIVATE_KEY, ROLE_DEVICE);
    let csr = sign(so, CKM_FERRO_DEVICE_CSR, key, &[]).unwrap();
    let ca = outside_ca(dir.path());
    let ca_der = openssl(&["x509", "-in", path(&ca.0), "-outform", "DER"], &[]);
    let device_der = issue_device_cert(dir.path(), &ca, &csr);

    // What may not be imported.
    let other_csr = openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-nodes",
            "-subj",
            "/CN=other",
            "-keyout",
            path(&dir.path().join("other.key")),
            "-outform",
            "DER",
        ],
        &[],
    );
    let not_ours = issue_device_cert(dir.path(), &ca, &other_csr);
    assert_rv!(rv(h.create(so, &role_import(&not_ours, ROLE_DEVICE))), CKR_ATTRIBUTE_VALUE_INVALID, "another key");
    assert_rv!(rv(h.create(so, &role_import(&ca_der, ROLE_DEVICE))), CKR_ATTRIBUTE_VALUE_INVALID, "the CA's own");
    assert_rv!(rv(h.create(so, &role_import(&device_der, ROLE_PARTITION))), CKR_ATTRIBUTE_VALUE_INVALID, "role 3");
    // Only the device SO, on the admin token: a partition's user may not.
    for role in [ROLE_DEVICE, ROLE_ROOT, ROLE_PARTITION] {
        assert_rv!(rv(h.create(s, &role_import(&device_der, role))), CKR_ATTRIBUTE_READ_ONLY, "user, role {role}");
    }
    assert_eq!(read_chain(&h, 0).device, old.device, "nothing changed");

    // Import.
    let dev = h.create(so, &role_import(&device_der, ROLE_DEVICE)).expect("the device certificate");
    h.create(so, &role_import(&ca_der, ROLE_ROOT)).expect("the CA's root");
    assert_eq!(h.get_ulong(so, dev, CKA_FERRO_KEY_ROLE), ROLE_DEVICE);
    assert!(!h.get_bool(so, dev, CKA_PRIVATE));
    let new = read_chain(&h, 0);
    assert_eq!(new.device, device_der, "the device certificate is the CA's");
    assert_eq!(new.roots, vec![ca_der.clone()], "the old root certificate is gone; the CA's is there");
    assert_eq!(new.partition, old.partition, "the partition keeps its certificate");
    assert_eq!(one_by_role(&h, so, CKO_PRIVATE_KEY, ROLE_DEVICE), key, "the same device key");

    // A fresh attestation chains to the outside CA, no longer to the old root.
    let (_, k) = ec_pair(&h, s, P256, "after", Tmpl::new());
    let check = |h: &Hsm, s, k| {
        let der = attest_cert(s, k, b"ca").unwrap();
        let (ok, said) = verify_attested(h, 0, &der, Some(&ca_der));
        assert!(ok, "against the outside root: {said}");
        let (ok, _) = verify_attested(h, 0, &der, Some(old.root()));
        assert!(!ok, "not against the old root");
    };
    check(&h, s, k);
    // Evidence carries the new chain.
    let der = sign(s, CKM_FERRO_KEY_ATTEST_EVIDENCE, k, b"").unwrap();
    let ev = dir.path().join("ev.der");
    std::fs::write(&ev, der).unwrap();
    let r = run_openssl(&["cms", "-verify", "-inform", "DER", "-in", path(&ev), "-CAfile", path(&ca.0)], &[]);
    assert!(r.ok, "evidence against the outside root: {}", r.stderr);
    // The birth certificate of a new key too, and all of it after a restart.
    let (_, born) = ec_pair(&h, s, P256, "born", Tmpl::new());
    let c = h.find(s, &Tmpl::new().class(CKO_CERTIFICATE).label("attestation:born"))[0];
    let (ok, said) = verify_attested(&h, 0, &h.get(s, c, CKA_VALUE).unwrap(), Some(&ca_der));
    assert!(ok, "birth certificate: {said}");
    assert_eq!(h.get(s, c, CKA_FERRO_ATTESTS).unwrap(), h.get(s, born, CKA_UNIQUE_ID).unwrap());
    h.restart();
    let s = h.open(0, true);
    assert_rv!(h.login(s, CKU_USER, USER_PIN), CKR_OK);
    let k = h.find(s, &Tmpl::new().class(CKO_PRIVATE_KEY).label("after"))[0];
    check(&h, s, k);
    assert_eq!(read_chain(&h, 0).device, device_der);
}

/// Only the device SO installs certificates: nobody logged in, or a partition's SO,
/// may not; and a user may not give any key or object a role.
#[test]
fn only_the_device_so_gives_roles() {
    let (h, s) = Hsm::ready();
    let cert = certificate("mine");
    // The user: no role on a certificate, a key pair, a copy or by a change.
    assert_rv!(rv(h.create(s, &role_import(&cert, ROLE_PARTITION))), CKR_ATTRIBUTE_READ_ONLY);
    let public = Tmpl::new().token(true).label("r").bytes(CKA_EC_PARAMS, P256);
    let private = Tmpl::new().token(true).label("r").ulong(CKA_FERRO_KEY_ROLE, ROLE_PARTITION);
    assert_rv!(rv(h.generate_pair(s, CKM_EC_KEY_PAIR_GEN, &public, &private)), CKR_ATTRIBUTE_READ_ONLY);
    let (_, k) = ec_pair(&h, s, P256, "k", Tmpl::new());
    assert_rv!(h.set(s, k, &Tmpl::new().ulong(CKA_FERRO_KEY_ROLE, ROLE_PARTITION)), CKR_ATTRIBUTE_READ_ONLY);
    assert_rv!(rv(h.copy(s, k, &Tmpl::new().ulong(CKA_FERRO_KEY_ROLE, ROLE_PARTITION))), CKR_ATTRIBUTE_READ_ONLY);
    assert_eq!(h.get_ulong(s, k, CKA_FERRO_KEY_ROLE), 0);
    // The partition SO neither.
    assert_rv!(call!(C_Logout, s), CKR_OK);
    assert_rv!(h.login(s, CKU_SO, SO_PIN), CKR_OK);
    assert_rv!(rv(h.create(s, &role_import(&cert, ROLE_ROOT))), CKR_ATTRIBUTE_READ_ONLY, "partition SO");
    // On the admin token, not without the device SO.
    h.init_token(ADMIN_SLOT, SO_PIN, "device");
    let a = h.open(ADMIN_SLOT, true);
    assert_rv!(rv(h.create(a, &role_import(&cert, ROLE_ROOT))), CKR_USER_NOT_LOGGED_IN, "nobody logged in");
    assert_eq!(by_role(&h, a, CKO_CERTIFICATE, ROLE_ROOT).len(), 1, "the root certificate alone");
}

fn mechanism_list(slot: CK_SLOT_ID) -> Vec<CK_MECHANISM_TYPE> {
    let mut n: CK_ULONG = 0;
    assert_rv!(call!(C_GetMechanismList, slot, ptr::null_mut(), &mut n), CKR_OK);
    let mut list = vec![0; n as usize];
    assert_rv!(call!(C_GetMechanismList, slot, list.as_mut_ptr(), &mut n), CKR_OK);
    list
}

/// Each token lists the vendor mechanisms it can do: key attestation in partitions,
/// the device's request on the admin token; asking the other for one is
/// CKR_MECHANISM_INVALID. And the chain's public keys verify, and do nothing else.
#[test]
fn each_token_lists_the_vendor_mechanisms_it_can_do() {
    let (h, s) = Hsm::ready();
    let partition = mechanism_list(0);
    let admin = mechanism_list(ADMIN_SLOT);
    for m in [CKM_FERRO_KEY_ATTEST_CERT, CKM_FERRO_KEY_ATTEST_EVIDENCE] {
        assert!(partition.contains(&m) && !admin.contains(&m), "{m:#x}");
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_rv!(call!(C_GetMechanismInfo, ADMIN_SLOT, m, &mut info), CKR_MECHANISM_INVALID);
        assert_rv!(call!(C_GetMechanismInfo, 0, m, &mut info), CKR_OK);
    }
    assert!(admin.contains(&CKM_FERRO_DEVICE_CSR) && !partition.contains(&CKM_FERRO_DEVICE_CSR));
    assert!(partition.contains(&CKM_ECDSA) && admin.contains(&CKM_ECDSA), "the common mechanisms on both");

    let public = h.find(s, &Tmpl::new().class(CKO_PUBLIC_KEY).label("ferrohsm partition attestation"));
    assert_eq!(public.len(), 1);
    assert!(h.get_bool(s, public[0], CKA_VERIFY));
    for ty in [CKA_ENCRYPT, CKA_WRAP, CKA_DERIVE] {
        assert!(!h.get_bool(s, public[0], ty), "{ty:#x}");
    }
}
