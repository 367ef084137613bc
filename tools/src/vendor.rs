//! ferrohsm's vendor-defined PKCS#11 constants, as the tools use them.
//!
//! The values are DESIGN.md's (and `pkcs11/include/ferrohsm.h`'s). They are repeated
//! here rather than imported so that the tools do not link the module itself; a test
//! (`tests/vendor.rs`) checks them against `ferrohsm_pkcs11::vendor`.

use cryptoki::object::{Attribute, AttributeType};

/// `CK_ULONG`: the partition's slot.
pub const CKA_FERRO_SLOT_ID: u64 = 0xC648_0015;
/// `CK_BBOOL`: the partition may wrap out extractable keys.
pub const CKA_FERRO_POLICY_ALLOW_EXPORT: u64 = 0xC648_0010;
/// `CK_BBOOL`: destroy moves keys to the SO's trash.
pub const CKA_FERRO_POLICY_KEY_INVALIDATION: u64 = 0xC648_0011;
/// `CK_BBOOL`: no create, modify or destroy of token objects.
pub const CKA_FERRO_POLICY_READ_ONLY: u64 = 0xC648_0012;
/// `CK_ULONG`: failed logins before a PIN locks.
pub const CKA_FERRO_POLICY_MAX_PIN_FAILURES: u64 = 0xC648_0013;
/// `CK_ULONG`: shortest PIN accepted.
pub const CKA_FERRO_POLICY_MIN_PIN_LEN: u64 = 0xC648_0014;
/// Mechanism: key attestation as an X.509 certificate (`C_SignInit` on the key to
/// attest, `C_Sign` over the nonce).
pub const CKM_FERRO_KEY_ATTEST_CERT: u64 = 0xC648_0001;
/// Mechanism: key attestation as CMS evidence over JSON claims.
pub const CKM_FERRO_KEY_ATTEST_EVIDENCE: u64 = 0xC648_0002;
/// Mechanism: partition attestation (`C_SignInit` on the partition's attestation
/// key as its SO, or on the audit key as the device SO naming the partition).
pub const CKM_FERRO_PARTITION_ATTEST: u64 = 0xC648_0003;
/// Mechanism: device attestation (`C_SignInit` on the audit key, device SO).
pub const CKM_FERRO_DEVICE_ATTEST: u64 = 0xC648_0004;
/// Mechanism: audit log attestation (the audit key as the device SO, or a
/// partition's attestation key as its SO).
pub const CKM_FERRO_LOG_ATTEST: u64 = 0xC648_0005;
/// Mechanism: a PKCS#10 request for the device key, made and signed in the module
/// (`C_SignInit` on the device private key, device SO; `C_Sign` over a DER Name, or
/// nothing for the device's own subject).
pub const CKM_FERRO_DEVICE_CSR: u64 = 0xC648_0007;
/// Mechanism: an RFC 3161 timestamp token (`C_SignInit` on the partition's timestamp
/// key, as the user; `C_Sign` over a DER TimeStampReq or a bare SHA-2 hash).
pub const CKM_FERRO_TIMESTAMP: u64 = 0xC648_0006;
/// `CK_ULONG`: the role of a device key or its certificate (1 root, 2 device,
/// 3 partition attestation, 4 timestamp, 5 audit).
pub const CKA_FERRO_KEY_ROLE: u64 = 0xC648_0004;
/// `CK_BBOOL`: the key was invalidated (key invalidation policy); only the
/// partition's SO sees it.
pub const CKA_FERRO_INVALIDATED: u64 = 0xC648_0003;
/// On an attestation certificate object: the `CKA_UNIQUE_ID` of the key it attests.
pub const CKA_FERRO_ATTESTS: u64 = 0xC648_0006;
/// Object class of a partition.
pub const CKO_FERRO_PARTITION: u64 = 0xC648_0001;

/// The admin token's slot (the device partition), listed last.
pub const ADMIN_SLOT: u64 = ferrohsm_store::ADMIN_PARTITION as u64;

/// `CKA_CLASS`.
const CKA_CLASS: u64 = 0;

/// `CKA_CLASS = CKO_FERRO_PARTITION`.
///
/// cryptoki 0.12's `ObjectClass` cannot hold a vendor value (its
/// `TryFrom<CK_OBJECT_CLASS>` refuses them and it has no public constructor), so the
/// attribute goes out as raw bytes: `AttributeType::VendorDefined(t)` converts to the
/// type `t` unchanged, and `CKA_CLASS` is 0.
pub fn partition_class() -> Attribute {
    ulong_attr(CKA_CLASS, CKO_FERRO_PARTITION)
}

/// A `CK_ULONG` attribute of any type, in the platform's byte order.
pub fn ulong_attr(ty: u64, value: u64) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value.to_ne_bytes().to_vec()))
}

/// A `CK_BBOOL` attribute of any type.
pub fn bool_attr(ty: u64, value: bool) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), vec![u8::from(value)]))
}

/// Reads a `CK_ULONG` value (native byte order, as the module wrote it).
pub fn ulong_value(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

/// Reads a `CK_BBOOL` value.
pub fn bool_value(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [b] => Some(*b != 0),
        _ => None,
    }
}
