//! [`crate::crypto::RsaOps`] for AwsLc.

use super::AwsLc;
use crate::crypto::RsaOps;

impl RsaOps for AwsLc {}
