//! ferrohsm's vendor-defined PKCS#11 constants (DESIGN.md, "Vendor constants").
//!
//! The same values are in `include/ferrohsm.h` for C callers. Base `0xC6480000`:
//! `CK*_VENDOR_DEFINED | 'F' 'H'`.

use cryptoki_sys::{CK_ATTRIBUTE_TYPE, CK_MECHANISM_TYPE, CK_OBJECT_CLASS, CK_ULONG};

/// Key attestation as an X.509 certificate.
pub const CKM_FERRO_KEY_ATTEST_CERT: CK_MECHANISM_TYPE = 0xC648_0001;
/// Key attestation as a signed document, any key class.
pub const CKM_FERRO_KEY_ATTEST_EVIDENCE: CK_MECHANISM_TYPE = 0xC648_0002;
/// Partition (user) attestation.
pub const CKM_FERRO_PARTITION_ATTEST: CK_MECHANISM_TYPE = 0xC648_0003;
/// Device configuration and state attestation.
pub const CKM_FERRO_DEVICE_ATTEST: CK_MECHANISM_TYPE = 0xC648_0004;
/// Audit log attestation.
pub const CKM_FERRO_LOG_ATTEST: CK_MECHANISM_TYPE = 0xC648_0005;
/// RFC 3161 timestamp token.
pub const CKM_FERRO_TIMESTAMP: CK_MECHANISM_TYPE = 0xC648_0006;
/// A PKCS#10 request for the device key, so an outside CA can certify it (device
/// SO; an extension beyond DESIGN.md's table, see docs/attestation.md).
pub const CKM_FERRO_DEVICE_CSR: CK_MECHANISM_TYPE = 0xC648_0007;

/// `CK_ULONG`: how the object came to be (see [`Origin`]).
pub const CKA_FERRO_ORIGIN: CK_ATTRIBUTE_TYPE = 0xC648_0001;
/// Creation time, UTC, `YYYYMMDDhhmmssZ`.
pub const CKA_FERRO_CREATED: CK_ATTRIBUTE_TYPE = 0xC648_0002;
/// `CK_BBOOL`: the key was invalidated (moved to the SO's trash).
pub const CKA_FERRO_INVALIDATED: CK_ATTRIBUTE_TYPE = 0xC648_0003;
/// `CK_ULONG`: the role of a device-internal key (see [`KeyRole`]).
pub const CKA_FERRO_KEY_ROLE: CK_ATTRIBUTE_TYPE = 0xC648_0004;
/// `CK_ULONG`: operations done with the key.
pub const CKA_FERRO_USAGE_COUNT: CK_ATTRIBUTE_TYPE = 0xC648_0005;
/// On an attestation certificate: the `CKA_UNIQUE_ID` of the key it attests.
pub const CKA_FERRO_ATTESTS: CK_ATTRIBUTE_TYPE = 0xC648_0006;
/// `CK_BBOOL`: the partition may wrap out extractable keys.
pub const CKA_FERRO_POLICY_ALLOW_EXPORT: CK_ATTRIBUTE_TYPE = 0xC648_0010;
/// `CK_BBOOL`: destroy moves keys to the SO's trash.
pub const CKA_FERRO_POLICY_KEY_INVALIDATION: CK_ATTRIBUTE_TYPE = 0xC648_0011;
/// `CK_BBOOL`: no create, modify or destroy of token objects.
pub const CKA_FERRO_POLICY_READ_ONLY: CK_ATTRIBUTE_TYPE = 0xC648_0012;
/// `CK_ULONG`: failed logins before a PIN locks.
pub const CKA_FERRO_POLICY_MAX_PIN_FAILURES: CK_ATTRIBUTE_TYPE = 0xC648_0013;
/// `CK_ULONG`: shortest PIN accepted.
pub const CKA_FERRO_POLICY_MIN_PIN_LEN: CK_ATTRIBUTE_TYPE = 0xC648_0014;
/// `CK_ULONG`: the partition's slot.
pub const CKA_FERRO_SLOT_ID: CK_ATTRIBUTE_TYPE = 0xC648_0015;

/// A partition: on the admin token, create one to add a partition, destroy it to
/// remove one; inside each partition, its own policy.
pub const CKO_FERRO_PARTITION: CK_OBJECT_CLASS = 0xC648_0001;

/// Values of [`CKA_FERRO_ORIGIN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Origin {
    /// Generated in this token.
    Generated = 1,
    /// Imported in the clear (`C_CreateObject`).
    Imported = 2,
    /// Unwrapped (`C_UnwrapKey`).
    Unwrapped = 3,
    /// Derived (`C_DeriveKey`).
    Derived = 4,
    /// Replicated from another device.
    Replicated = 5,
    /// Copied (`C_CopyObject`).
    Copied = 6,
}

impl Origin {
    /// The attribute value.
    pub const fn value(self) -> CK_ULONG {
        self as CK_ULONG
    }
}

/// Values of [`CKA_FERRO_KEY_ROLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum KeyRole {
    /// An ordinary key.
    None = 0,
    /// The device root.
    Root = 1,
    /// The device key, certified by the root.
    Device = 2,
    /// A partition attestation key.
    PartitionAttestation = 3,
    /// A timestamp key.
    Timestamp = 4,
    /// The audit key.
    Audit = 5,
    /// Owner key (POK).
    Owner = 6,
    /// Identity key (PIK).
    Identity = 7,
}
