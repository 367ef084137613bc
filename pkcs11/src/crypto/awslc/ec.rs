//! [`crate::crypto::EcOps`] for AwsLc.

use super::AwsLc;
use crate::crypto::EcOps;

impl EcOps for AwsLc {}
