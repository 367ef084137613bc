//! The tools repeat the vendor constants they use (so they do not link the module);
//! this keeps them equal to the module's.

use ferrohsm_pkcs11::vendor as module;
use ferrohsm_tools::vendor as tools;

#[test]
fn vendor_constants_match_the_module() {
    assert_eq!(tools::CKA_FERRO_SLOT_ID, module::CKA_FERRO_SLOT_ID);
    assert_eq!(tools::CKA_FERRO_POLICY_ALLOW_EXPORT, module::CKA_FERRO_POLICY_ALLOW_EXPORT);
    assert_eq!(tools::CKA_FERRO_POLICY_KEY_INVALIDATION, module::CKA_FERRO_POLICY_KEY_INVALIDATION);
    assert_eq!(tools::CKA_FERRO_POLICY_READ_ONLY, module::CKA_FERRO_POLICY_READ_ONLY);
    assert_eq!(tools::CKA_FERRO_POLICY_MAX_PIN_FAILURES, module::CKA_FERRO_POLICY_MAX_PIN_FAILURES);
    assert_eq!(tools::CKA_FERRO_POLICY_MIN_PIN_LEN, module::CKA_FERRO_POLICY_MIN_PIN_LEN);
    assert_eq!(tools::CKO_FERRO_PARTITION, module::CKO_FERRO_PARTITION);
    assert_eq!(tools::CKM_FERRO_KEY_ATTEST_CERT, module::CKM_FERRO_KEY_ATTEST_CERT);
    assert_eq!(tools::CKM_FERRO_KEY_ATTEST_EVIDENCE, module::CKM_FERRO_KEY_ATTEST_EVIDENCE);
    assert_eq!(tools::CKM_FERRO_TIMESTAMP, module::CKM_FERRO_TIMESTAMP);
    assert_eq!(tools::CKM_FERRO_PARTITION_ATTEST, module::CKM_FERRO_PARTITION_ATTEST);
    assert_eq!(tools::CKM_FERRO_DEVICE_ATTEST, module::CKM_FERRO_DEVICE_ATTEST);
    assert_eq!(tools::CKM_FERRO_LOG_ATTEST, module::CKM_FERRO_LOG_ATTEST);
    assert_eq!(tools::CKM_FERRO_DEVICE_CSR, module::CKM_FERRO_DEVICE_CSR);
    assert_eq!(tools::CKA_FERRO_KEY_ROLE, module::CKA_FERRO_KEY_ROLE);
    assert_eq!(tools::CKA_FERRO_ATTESTS, module::CKA_FERRO_ATTESTS);
}
