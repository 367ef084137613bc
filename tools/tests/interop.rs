//! The module's attestation encoder (`ferrohsm_pkcs11::attest`, pure functions) and
//! this verifier are two implementations of docs/attestation.md: what one writes, the
//! other must accept, claim for claim. Keys here are fixed test scalars; the module
//! itself is not loaded.

use ferrohsm_pkcs11::attest::claims::Origin as Origin_;
use ferrohsm_pkcs11::attest::claims::*;
use ferrohsm_pkcs11::attest::x509::{Profile, Subject, issue};
use ferrohsm_pkcs11::attest::{Signer, cms, oid};
use ferrohsm_tools::verify::{self, Check, Form, Inputs, Origin, input};
use p256::pkcs8::EncodePublicKey;
use spki::AlgorithmIdentifierOwned;

const DEVICE: &str = "896a3b216d2db451";
const PARTITION: &str = "bfa711959c35c0dd";
const NOW: u64 = 1_790_000_000; // 2026-09-21

enum Key {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl Key {
    fn p256(seed: u8) -> Key {
        Key::P256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }
    fn p384(seed: u8) -> Key {
        Key::P384(p384::ecdsa::SigningKey::from_slice(&[seed; 48]).unwrap())
    }
    fn spki(&self) -> Vec<u8> {
        match self {
            Key::P256(k) => k.verifying_key().to_public_key_der().unwrap().into_vec(),
            Key::P384(k) => k.verifying_key().to_public_key_der().unwrap().into_vec(),
        }
    }
}

impl Signer for Key {
    fn algorithm(&self) -> AlgorithmIdentifierOwned {
        let oid = match self {
            Key::P256(_) => oid::ECDSA_WITH_SHA256,
            Key::P384(_) => oid::ECDSA_WITH_SHA384,
        };
        AlgorithmIdentifierOwned { oid, parameters: None }
    }
    fn sign(&self, message: &[u8]) -> ferrohsm_pkcs11::error::Result<Vec<u8>> {
        use p256::ecdsa::signature::Signer as _;
        Ok(match self {
            Key::P256(k) => {
                let s: p256::ecdsa::DerSignature = k.sign(message);
                s.as_bytes().to_vec()
            }
            Key::P384(k) => {
                let s: p384::ecdsa::DerSignature = k.sign(message);
                s.as_bytes().to_vec()
            }
        })
    }
}

struct Device {
    root: Vec<u8>,
    device: Vec<u8>,
    part: Vec<u8>,
    part_key: Key,
}

fn device() -> Device {
    let (root_key, dev_key, part_key) = (Key::p384(1), Key::p384(2), Key::p256(3));
    let root =
        issue(&Profile::Root, &Subject::root(DEVICE), &root_key.spki(), None, &root_key, [0x81; 16], NOW).unwrap();
    let device =
        issue(&Profile::Device, &Subject::device(DEVICE), &dev_key.spki(), Some(&root), &root_key, [0x02; 16], NOW)
            .unwrap();
    let part = issue(
        &Profile::PartitionAttestation,
        &Subject::partition_attestation(0, PARTITION, DEVICE),
        &part_key.spki(),
        Some(&device),
        &dev_key,
        [0x03; 16],
        NOW,
    )
    .unwrap();
    Device { root, device, part, part_key }
}

fn claims(nonce: Option<&[u8]>) -> KeyAttestation {
    KeyAttestation {
        version: 1,
        nonce: nonce.map(|n| octets(n).unwrap()),
        time: time(NOW).unwrap(),
        device: DeviceClaims {
            serial: DEVICE.into(),
            software: "ferrohsm".into(),
            version: "0.1.0".into(),
            provider: "aws-lc".into(),
            protection: Protection::Software,
        },
        partition: PartitionClaims {
            id: 0,
            serial: PARTITION.into(),
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
            class: 3,
            key_type: 3,
            bits: Some(256),
            curve: Some(der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7")),
            id: octets(&[0x01]).unwrap(),
            label: "mykey".into(),
            unique_id: "3e5d52476bb61a80814ac32d1fe18d81".into(),
            origin: Origin_::Generated,
            created: Some(time(NOW - 60).unwrap()),
            security: SecurityClaims {
                local: Some(true),
                sensitive: Some(true),
                always_sensitive: Some(true),
                extractable: Some(false),
                never_extractable: Some(true),
                modifiable: Some(true),
                private: Some(true),
            },
            usage: UsageClaims { sign: Some(true), ..UsageClaims::default() },
            allowed_mechanisms: Some(vec![0x1044, 0xC648_0001, 0x8000_1234]),
            check_value: None,
        },
    }
}

fn pem(certs: &[&[u8]]) -> Vec<u8> {
    certs.iter().map(|c| input::to_pem("CERTIFICATE", c)).collect::<String>().into_bytes()
}

#[test]
fn the_modules_certificates_verify_here() {
    let d = device();
    let key = Key::p256(9);
    let c = claims(Some(&[0xaa; 16]));
    let att = issue(
        &Profile::AttestedKey { claims_der: c.to_der().unwrap() },
        &Subject::attested_key(&c.key.unique_id, PARTITION, DEVICE),
        &key.spki(),
        Some(&d.part),
        &d.part_key,
        [0x04; 16],
        NOW,
    )
    .unwrap();
    let i = Inputs {
        attestation: Some(att),
        chain: vec![pem(&[&d.part, &d.device])],
        root: d.root.clone(),
        nonce: Some(vec![0xaa; 16]),
        at: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW + 3600)),
        ..Inputs::default()
    };
    let s = verify::verify(&i).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(s.form, Form::Certificate);
    assert!(s.nonce_checked);
    let k = &s.claims.key;
    assert_eq!(
        (k.class.as_str(), k.key_type.as_str(), k.curve.as_deref(), k.bits),
        ("private", "EC", Some("P-256"), Some(256))
    );
    assert_eq!(k.origin, Origin::Generated);
    assert_eq!(
        k.allowed_mechanisms.as_deref().unwrap(),
        ["CKM_ECDSA_SHA256", "CKM_FERRO_KEY_ATTEST_CERT", "0x80001234"]
    );
    assert_eq!(k.created.as_deref(), Some("2026-09-21T14:12:20Z"));
    assert_eq!(s.claims.time, "2026-09-21T14:13:20Z");
    assert_eq!(s.public_key_info.as_deref(), Some(&key.spki()[..]));
    assert_eq!(s.path.len(), 4);
    // Thirty years on, the chain has expired.
    let late = Inputs { at: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW + 31 * 366 * 86400)), ..i };
    assert_eq!(verify::verify(&late).unwrap_err().check, Check::Validity);
}

#[test]
fn the_modules_evidence_verifies_here() {
    let d = device();
    let key = Key::p256(9);
    let c = claims(None);
    let json = c.to_json(Some(&key.spki())).unwrap();
    let cms = cms::signed_data(
        &oid::EVIDENCE,
        json.as_bytes(),
        &d.part,
        &[d.part.clone(), d.device.clone(), d.root.clone()],
        &d.part_key,
        NOW,
    )
    .unwrap();
    let i = Inputs {
        attestation: Some(cms),
        root: d.root.clone(),
        at: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW + 3600)),
        ..Inputs::default()
    };
    let s = verify::verify(&i).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(s.form, Form::Evidence);
    // The same claims from either form.
    let att = issue(
        &Profile::AttestedKey { claims_der: c.to_der().unwrap() },
        &Subject::attested_key(&c.key.unique_id, PARTITION, DEVICE),
        &key.spki(),
        Some(&d.part),
        &d.part_key,
        [0x04; 16],
        NOW,
    )
    .unwrap();
    let i2 = Inputs { attestation: Some(att), chain: vec![pem(&[&d.part, &d.device])], ..i };
    let s2 = verify::verify(&i2).unwrap();
    let mut from_json = s.claims.clone();
    from_json.key.public_key_info = None;
    assert_eq!(from_json, s2.claims);
}
