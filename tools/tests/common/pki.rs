//! Fixtures for the verifier tests, made without the module: a device PKI in the
//! profile of docs/attestation.md, made with `openssl`, and key attestations whose
//! claims are DER written byte by byte here (a builder independent of both the
//! module and the verifier's parser).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Our arc and OIDs, as openssl takes them.
pub const ARC: &str = "2.25.36854759746227648345030761591017072291";

pub fn oid(n: u32) -> String {
    format!("{ARC}.{n}")
}

/// Runs openssl; panics with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

// ---------------------------------------------------------------------------
// DER, by hand.

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

pub fn seq(items: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &items.concat())
}

fn uint_content(v: u64) -> Vec<u8> {
    let mut b: Vec<u8> = v.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect();
    if b.is_empty() || b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    b
}

pub fn int(v: u64) -> Vec<u8> {
    tlv(0x02, &uint_content(v))
}

pub fn enumerated(v: u64) -> Vec<u8> {
    tlv(0x0a, &uint_content(v))
}

pub fn utf8(s: &str) -> Vec<u8> {
    tlv(0x0c, s.as_bytes())
}

pub fn boolean(b: bool) -> Vec<u8> {
    tlv(0x01, &[if b { 0xff } else { 0x00 }])
}

pub fn octets(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}

pub fn gtime(s: &str) -> Vec<u8> {
    tlv(0x18, s.as_bytes())
}

/// Replaces the tag of an encoding (for IMPLICIT tagging).
pub fn retag(tag: u8, mut der: Vec<u8>) -> Vec<u8> {
    der[0] = tag;
    der
}

/// Content octets of the OIDs used for curves.
pub const P256_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const ED25519_OID: &[u8] = &[0x2b, 0x65, 0x70];

/// What a test wants the claims to say.
#[derive(Clone)]
pub struct Ka {
    pub nonce: Option<Vec<u8>>,
    pub class: u64,
    pub key_type: u64,
    pub bits: Option<u64>,
    pub curve: Option<&'static [u8]>,
    pub label: String,
    pub unique_id: String,
    pub origin: u64,
    /// `SecurityClaims` as (context tag number, value); absent ones are unknown.
    pub security: Vec<(u8, bool)>,
    pub allowed: Option<Vec<u64>>,
    pub protection: u64,
}

impl Ka {
    /// A P-256 private key generated in the token, every security claim present.
    pub fn generated_p256() -> Ka {
        Ka {
            nonce: None,
            class: 3,
            key_type: 3,
            bits: Some(256),
            curve: Some(P256_OID),
            label: "mykey".into(),
            unique_id: "3e5d52476bb61a80814ac32d1fe18d81".into(),
            origin: 1,
            // local, sensitive, always sensitive, extractable, never extractable, modifiable, private
            security: vec![(0, true), (1, true), (2, true), (3, false), (4, true), (5, true), (6, true)],
            allowed: Some(vec![0x1044, 0xC648_0001]),
            protection: 0,
        }
    }

    /// The DER of `KeyAttestation`.
    pub fn der(&self) -> Vec<u8> {
        let mut top = vec![int(1)];
        if let Some(n) = &self.nonce {
            top.push(retag(0x80, octets(n)));
        }
        top.push(gtime("20260301120000Z"));
        top.push(seq(&[
            utf8("896a3b216d2db451"),
            utf8("ferrohsm"),
            utf8("0.1.0"),
            utf8("aws-lc"),
            enumerated(self.protection),
        ]));
        top.push(seq(&[
            int(0),
            utf8("bfa711959c35c0dd"),
            utf8("payments"),
            seq(&[boolean(true), boolean(false), boolean(false), int(10), int(4)]),
        ]));
        let mut key = vec![int(self.class), int(self.key_type)];
        if let Some(b) = self.bits {
            key.push(retag(0x80, int(b)));
        }
        if let Some(c) = self.curve {
            key.push(tlv(0x81, c));
        }
        key.push(octets(&[0x01]));
        key.push(utf8(&self.label));
        key.push(utf8(&self.unique_id));
        key.push(enumerated(self.origin));
        key.push(retag(0x82, gtime("20260301115959Z")));
        key.push(seq(&self.security.iter().map(|(n, b)| retag(0x80 | n, boolean(*b))).collect::<Vec<_>>()));
        key.push(seq(&[retag(0x82, boolean(true)), retag(0x83, boolean(false))]));
        if let Some(m) = &self.allowed {
            key.push(tlv(0xa3, &m.iter().map(|v| int(*v)).collect::<Vec<_>>().concat()));
        }
        top.push(seq(&key));
        seq(&top)
    }
}

// ---------------------------------------------------------------------------
// The PKI.

/// Files of one device PKI, made once per test process.
pub struct Pki {
    pub dir: PathBuf,
}

fn ext_conf() -> String {
    format!(
        "[root]\nbasicConstraints=critical,CA:TRUE,pathlen:2\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\n\
         [device]\nbasicConstraints=critical,CA:TRUE,pathlen:1\n\
         keyUsage=critical,keyCertSign,cRLSign,digitalSignature\nextendedKeyUsage={kp},emailProtection\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         [partition]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,digitalSignature\n\
         extendedKeyUsage={kp},emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         [ca_root]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
         [ca_device]\nbasicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n\
         extendedKeyUsage={kp},emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         [ca_device_noeku]\nbasicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         [ca_device_pathlen0]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n\
         extendedKeyUsage={kp}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         [partition_nopurpose]\nbasicConstraints=critical,CA:TRUE,pathlen:0\n\
         keyUsage=critical,keyCertSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        kp = oid(3)
    )
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

impl Pki {
    /// The shared PKI of this test process.
    pub fn get() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(Pki::make)
    }

    fn make() -> Pki {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("verify-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        std::fs::write(pki.path("ext.cnf"), ext_conf()).unwrap();
        let d = &pki.dir;
        for (name, curve) in [("root", "P-384"), ("device", "P-384"), ("part", "P-256"), ("other-root", "P-384")] {
            openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    &format!("ec_paramgen_curve:{curve}"),
                    "-out",
                    &format!("{name}.key"),
                ],
            );
        }
        for (name, serial) in [("root", "0123456789abcdef"), ("other-root", "fedcba9876543210")] {
            openssl(
                d,
                &[
                    "req",
                    "-new",
                    "-x509",
                    "-key",
                    &format!("{name}.key"),
                    "-sha384",
                    "-days",
                    "10950",
                    "-subj",
                    &format!("/O=ferrohsm/CN=ferrohsm root {serial}/serialNumber={serial}"),
                    "-config",
                    "ext.cnf",
                    "-extensions",
                    "root",
                    "-out",
                    &format!("{name}.pem"),
                ],
            );
        }
        pki.issue(
            "device",
            "root",
            "/O=ferrohsm/CN=ferrohsm device 0123456789abcdef/serialNumber=0123456789abcdef",
            "device",
            "-sha384",
        );
        pki.issue(
            "part",
            "device",
            "/O=ferrohsm/CN=ferrohsm partition 0 attestation/OU=bfa711959c35c0dd/serialNumber=0123456789abcdef",
            "partition",
            "-sha384",
        );
        // The same partition key, certified without our purpose.
        std::fs::copy(pki.path("part.key"), pki.path("part-np.key")).unwrap();
        pki.issue(
            "part-np",
            "device",
            "/O=ferrohsm/CN=ferrohsm partition 0 attestation/OU=bfa711959c35c0dd/serialNumber=0123456789abcdef",
            "partition_nopurpose",
            "-sha384",
        );
        let chain =
            [std::fs::read(pki.path("part.pem")).unwrap(), std::fs::read(pki.path("device.pem")).unwrap()].concat();
        std::fs::write(pki.path("chain.pem"), chain).unwrap();
        // An outside CA (RSA) that certifies the same device key, with the same name.
        openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "ca.key"]);
        openssl(
            d,
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                "ca.key",
                "-sha256",
                "-days",
                "3650",
                "-subj",
                "/O=Example CA/CN=Example Root",
                "-config",
                "ext.cnf",
                "-extensions",
                "ca_root",
                "-out",
                "ca.pem",
            ],
        );
        for (out, section) in [
            ("ca-device", "ca_device"),
            ("ca-device-noeku", "ca_device_noeku"),
            ("ca-device-pl0", "ca_device_pathlen0"),
        ] {
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "device.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    "0x99",
                    "-sha256",
                    "-days",
                    "3650",
                    "-extfile",
                    "ext.cnf",
                    "-extensions",
                    section,
                    "-out",
                    &format!("{out}.pem"),
                ],
            );
        }
        let chain =
            [std::fs::read(pki.path("part-np.pem")).unwrap(), std::fs::read(pki.path("device.pem")).unwrap()].concat();
        std::fs::write(pki.path("chain-np.pem"), chain).unwrap();
        for (name, alg) in [("k1", "EC:P-256"), ("k2", "EC:P-256"), ("rsa", "RSA"), ("ed", "ED25519")] {
            let mut args = vec!["genpkey", "-out"];
            let file = format!("{name}.key");
            args.push(&file);
            let curve;
            match alg.split_once(':') {
                Some(("EC", c)) => {
                    curve = format!("ec_paramgen_curve:{c}");
                    args.extend(["-algorithm", "EC", "-pkeyopt", &curve]);
                }
                _ if alg == "RSA" => args.extend(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                _ => args.extend(["-algorithm", "ED25519"]),
            }
            openssl(d, &args);
        }
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Certifies `name.key` by `issuer` with extension section `section`.
    fn issue(&self, name: &str, issuer: &str, subject: &str, section: &str, md: &str) {
        let d = &self.dir;
        openssl(d, &["req", "-new", "-key", &format!("{name}.key"), "-subj", subject, "-out", &format!("{name}.csr")]);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{issuer}.pem"),
                "-CAkey",
                &format!("{issuer}.key"),
                "-set_serial",
                "0x1234",
                md,
                "-days",
                "10950",
                "-extfile",
                "ext.cnf",
                "-extensions",
                section,
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    /// A key attestation certificate for `key` (`k1`, `rsa`, `ed`, ...) with `claims`,
    /// issued by `issuer` (`part` or `part-np`), written as `out` (DER); `extra` adds
    /// lines to its extension section. Returns the DER.
    pub fn attest_cert(&self, out: &str, key: &str, claims: &Ka, issuer: &str, extra: &str) -> Vec<u8> {
        let d = &self.dir;
        let section = format!("[att]\n{}=DER:{}\nauthorityKeyIdentifier=keyid\n{extra}\n", oid(1), hexs(&claims.der()));
        std::fs::write(d.join(format!("{out}.cnf")), section).unwrap();
        openssl(d, &["pkey", "-in", &format!("{key}.key"), "-pubout", "-out", &format!("{out}.pub")]);
        // A request signed by another key stands in: -force_pubkey sets the key.
        openssl(
            d,
            &[
                "x509",
                "-new",
                "-force_pubkey",
                &format!("{out}.pub"),
                "-subj",
                "/O=ferrohsm/CN=ferrohsm attested key 3e5d52476bb61a80814ac32d1fe18d81/OU=bfa711959c35c0dd/serialNumber=0123456789abcdef",
                "-CA",
                &format!("{issuer}.pem"),
                "-CAkey",
                &format!("{issuer}.key"),
                "-set_serial",
                "0x77",
                "-sha256",
                "-days",
                "3650",
                "-extfile",
                &format!("{out}.cnf"),
                "-extensions",
                "att",
                "-outform",
                "DER",
                "-out",
                &format!("{out}.der"),
            ],
        );
        self.read(&format!("{out}.der"))
    }

    /// CMS evidence over `json`, signed by the partition attestation key with the
    /// chain in its certificate set. Returns the DER.
    pub fn evidence(&self, out: &str, json: &str) -> Vec<u8> {
        let d = &self.dir;
        std::fs::write(d.join(format!("{out}.json")), json).unwrap();
        let root = self.read("root.pem");
        let chain = [self.read("device.pem"), root].concat();
        std::fs::write(d.join(format!("{out}-certs.pem")), chain).unwrap();
        openssl(
            d,
            &[
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-md",
                "sha256",
                "-nosmimecap",
                "-econtent_type",
                &oid(2),
                "-signer",
                "part.pem",
                "-inkey",
                "part.key",
                "-certfile",
                &format!("{out}-certs.pem"),
                "-in",
                &format!("{out}.json"),
                "-outform",
                "DER",
                "-out",
                &format!("{out}.p7"),
            ],
        );
        self.read(&format!("{out}.p7"))
    }

    /// A PKCS#10 request (DER) for `key`, made by openssl.
    pub fn request(&self, out: &str, key: &str) -> Vec<u8> {
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{key}.key"),
                "-subj",
                "/CN=app.example/O=Example",
                "-outform",
                "DER",
                "-out",
                &format!("{out}.der"),
            ],
        );
        self.read(&format!("{out}.der"))
    }

    /// The SubjectPublicKeyInfo (DER) of `key`.
    pub fn spki(&self, key: &str) -> Vec<u8> {
        openssl(&self.dir, &["pkey", "-in", &format!("{key}.key"), "-pubout", "-outform", "DER"])
    }

    /// Signs `data` with `key` as openssl does for `alg` ("sha256" or "ed25519").
    pub fn sign(&self, key: &str, data: &[u8], alg: &str) -> Vec<u8> {
        let tbs =
            self.dir.join(format!("tbs-{}-{key}", std::thread::current().name().unwrap_or("t").replace("::", "-")));
        std::fs::write(&tbs, data).unwrap();
        let tbs = tbs.to_str().unwrap().to_string();
        if alg == "ed25519" {
            openssl(&self.dir, &["pkeyutl", "-sign", "-rawin", "-inkey", &format!("{key}.key"), "-in", &tbs])
        } else {
            openssl(&self.dir, &["dgst", &format!("-{alg}"), "-sign", &format!("{key}.key"), &tbs])
        }
    }
}

/// JSON claims for evidence about `key` (its SPKI hex in `public_key_info`).
pub fn evidence_json(spki: &[u8], nonce: Option<&str>, origin: &str) -> String {
    let mut v = serde_json::json!({
        "version": 1,
        "type": "key",
        "time": "2026-03-01T12:00:00Z",
        "device": {"serial": "896a3b216d2db451", "software": "ferrohsm", "version": "0.1.0",
                   "provider": "aws-lc", "protection": "software"},
        "partition": {"id": 0, "serial": "bfa711959c35c0dd", "label": "payments",
                      "policy": {"allow_export": true, "key_invalidation": false, "read_only": false,
                                 "max_pin_failures": 10, "min_pin_len": 4}},
        "key": {"class": "private", "type": "EC", "bits": 256, "curve": "P-256",
                "id": "01", "label": "mykey", "unique_id": "3e5d52476bb61a80814ac32d1fe18d81",
                "origin": origin, "created": "2026-03-01T11:59:59Z",
                "public_key_info": spki.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "security": {"local": origin == "generated", "sensitive": true, "always_sensitive": true,
                             "extractable": false, "never_extractable": true, "modifiable": true, "private": true},
                "usage": {"sign": true, "verify": false},
                "allowed_mechanisms": ["CKM_ECDSA_SHA256"]}
    });
    if let Some(n) = nonce {
        v["nonce"] = serde_json::Value::String(n.into());
    }
    v.to_string()
}
