//! The gRPC service that alone holds the merchant key: signs Alipay requests and calls Alipay's server APIs.
