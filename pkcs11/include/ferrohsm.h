/*
 * ferrohsm.h: ferrohsm's vendor-defined PKCS#11 constants.
 *
 * Include after pkcs11.h (or pkcs11t.h). Base 0xC6480000 = CK*_VENDOR_DEFINED | 'F' 'H'.
 * The same values are in the Rust crate as ferrohsm_pkcs11::vendor.
 */
#ifndef FERROHSM_H
#define FERROHSM_H

/* Mechanisms: attestation through C_SignInit / C_Sign with no parameter;
 * the data is the verifier's nonce (0 to 64 bytes). */
#define CKM_FERRO_KEY_ATTEST_CERT      0xC6480001UL /* key attestation as an X.509 certificate */
#define CKM_FERRO_KEY_ATTEST_EVIDENCE  0xC6480002UL /* key attestation as a signed document, any key class */
#define CKM_FERRO_PARTITION_ATTEST     0xC6480003UL /* partition (user) attestation */
#define CKM_FERRO_DEVICE_ATTEST        0xC6480004UL /* device configuration and state attestation */
#define CKM_FERRO_LOG_ATTEST           0xC6480005UL /* audit log attestation */
#define CKM_FERRO_TIMESTAMP            0xC6480006UL /* RFC 3161 timestamp token */
#define CKM_FERRO_DEVICE_CSR           0xC6480007UL /* PKCS#10 request for the device key (device SO) */
/* CKM_FERRO_DEVICE_CSR: C_SignInit on the admin token, device SO logged in, with the
 * device's private key (CKO_PRIVATE_KEY with CKA_FERRO_KEY_ROLE = CK_FERRO_ROLE_DEVICE);
 * C_Sign's data is the subject as a DER Name, or empty for the device's own name; the
 * result is a DER PKCS#10 request signed by the device key. No parameter.
 * CKM_FERRO_TIMESTAMP: C_SignInit in a user partition, the user logged in, with the
 * partition's timestamp private key (CKO_PRIVATE_KEY with CKA_FERRO_KEY_ROLE =
 * CK_FERRO_ROLE_TIMESTAMP); C_Sign's data is a DER RFC 3161 TimeStampReq (SHA-256/384/512
 * imprint, no extensions, reqPolicy absent or ferrohsm's) or a bare SHA-256/384/512 hash
 * (32, 48 or 64 bytes); the result is a DER TimeStampToken. No parameter.
 * This module offers every mechanism above: key attestation and timestamps in
 * partitions, the device CSR and device attestation on the admin token, partition and
 * log attestation on both (docs/attestation.md, docs/audit.md). */

/* Attributes */
#define CKA_FERRO_ORIGIN               0xC6480001UL /* CK_ULONG: see CK_FERRO_ORIGIN_* */
#define CKA_FERRO_CREATED              0xC6480002UL /* creation time, UTC, "YYYYMMDDhhmmssZ" */
#define CKA_FERRO_INVALIDATED          0xC6480003UL /* CK_BBOOL: key invalidation */
#define CKA_FERRO_KEY_ROLE             0xC6480004UL /* CK_ULONG: see CK_FERRO_ROLE_* and below */
#define CKA_FERRO_USAGE_COUNT          0xC6480005UL /* CK_ULONG: operations done with the key */
#define CKA_FERRO_ATTESTS              0xC6480006UL /* on an attestation certificate: CKA_UNIQUE_ID of the key */
#define CKA_FERRO_POLICY_ALLOW_EXPORT  0xC6480010UL /* CK_BBOOL: partition may wrap out extractable keys */
#define CKA_FERRO_POLICY_KEY_INVALIDATION 0xC6480011UL /* CK_BBOOL: destroy moves keys to the SO's trash */
#define CKA_FERRO_POLICY_READ_ONLY     0xC6480012UL /* CK_BBOOL: no create, modify or destroy */
#define CKA_FERRO_POLICY_MAX_PIN_FAILURES 0xC6480013UL /* CK_ULONG */
#define CKA_FERRO_POLICY_MIN_PIN_LEN   0xC6480014UL /* CK_ULONG */
#define CKA_FERRO_SLOT_ID              0xC6480015UL /* CK_ULONG: the partition's slot */

/* Object classes */
#define CKO_FERRO_PARTITION            0xC6480001UL /* a partition; see docs/partitions.md */

/* Values of CKA_FERRO_ORIGIN */
#define CK_FERRO_ORIGIN_GENERATED  1UL
#define CK_FERRO_ORIGIN_IMPORTED   2UL
#define CK_FERRO_ORIGIN_UNWRAPPED  3UL
#define CK_FERRO_ORIGIN_DERIVED    4UL
#define CK_FERRO_ORIGIN_REPLICATED 5UL
#define CK_FERRO_ORIGIN_COPIED     6UL

/* Values of CKA_FERRO_KEY_ROLE. The token sets them on the keys and certificates of
 * its attestation chain. Import by role: C_CreateObject on the admin token, device SO
 * logged in, read/write session, of a CKO_CERTIFICATE (CKC_X_509, CKA_VALUE) whose
 * template has CKA_FERRO_KEY_ROLE installs a certificate of the device's chain:
 * CK_FERRO_ROLE_DEVICE, the device key's certificate from an outside CA (its public key
 * must be the device key's, else CKR_ATTRIBUTE_VALUE_INVALID; it replaces the device
 * certificate and every CK_FERRO_ROLE_ROOT certificate), then CK_FERRO_ROLE_ROOT for
 * each CA certificate above it. Other values: CKR_ATTRIBUTE_VALUE_INVALID; on a user
 * partition: CKR_ATTRIBUTE_READ_ONLY. See docs/attestation.md. */
#define CK_FERRO_ROLE_NONE        0UL
#define CK_FERRO_ROLE_ROOT        1UL
#define CK_FERRO_ROLE_DEVICE      2UL
#define CK_FERRO_ROLE_PARTITION   3UL /* partition attestation key */
#define CK_FERRO_ROLE_TIMESTAMP   4UL
#define CK_FERRO_ROLE_AUDIT       5UL
#define CK_FERRO_ROLE_OWNER       6UL /* POK */
#define CK_FERRO_ROLE_IDENTITY    7UL /* PIK */

/* The admin token's slot id; user partitions count up from 0. */
#define FERROHSM_ADMIN_SLOT_ID    0xFFFFUL

#endif /* FERROHSM_H */
