//! Pay links are signed on a small pool of dedicated threads, one per core, fed by one FIFO queue.
//!
//! An RSA-2048 signature is ~0.3 ms of pure CPU, the whole cost of `CreatePagePay`. Signed on the
//! tokio workers, it would hold a worker away from the network for that long, and tokio's
//! scheduler (which runs the newest task first) would let late requests overtake early ones,
//! stretching the tail: at 32 concurrent callers p99 was ~2× p50. Through one FIFO queue, requests
//! are signed in arrival order, so every caller waits about the same, and the tokio workers only
//! move bytes.
//!
//! The threads end when the pool's last handle (every clone of the gRPC service) is dropped.

use alipay::request::{PagePay, RequestSigner, SignedRequest, WapPay};

use crate::error::GatewayError;

type Job = Box<dyn FnOnce(&RequestSigner) + Send>;

/// A handle to the signing threads. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SigningPool {
    jobs: crossbeam_channel::Sender<Job>,
}

/// What a pool can sign.
#[derive(Debug)]
pub enum PayRequest {
    Page(PagePay),
    Wap(WapPay),
}

impl SigningPool {
    /// Starts `threads` signing threads (at least one), each with a handle on `signer`'s key.
    pub fn start(signer: RequestSigner, threads: usize) -> std::io::Result<Self> {
        // One queue that every thread takes from: whichever is free takes the oldest job. A std
        // receiver behind a mutex did the same, but each job then also woke the second thread,
        // only to take the lock and wait again; this queue wakes one. That was 5% more pay links
        // per second at c16, back to back (docs/capacity.md).
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let signer = signer.clone();
            std::thread::Builder::new()
                .name(format!("signer-{index}"))
                .spawn(move || work(&queue, &signer))?;
        }
        Ok(SigningPool { jobs })
    }

    /// Signs a pay request on the pool, in arrival order.
    pub async fn sign(&self, request: PayRequest) -> Result<SignedRequest, GatewayError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |signer: &RequestSigner| {
            let signed = match &request {
                PayRequest::Page(pay) => signer.page_pay(pay),
                PayRequest::Wap(pay) => signer.wap_pay(pay),
            };
            // The caller may have gone (cancelled RPC): nothing to do then.
            let _ = answer.send(signed);
        });
        self.jobs
            .send(job)
            .map_err(|_| GatewayError::Internal("the signing threads are gone".into()))?;
        let signed = answered
            .await
            .map_err(|_| GatewayError::Internal("a signing thread failed".into()))?;
        Ok(signed?)
    }
}

fn work(queue: &crossbeam_channel::Receiver<Job>, signer: &RequestSigner) {
    // Ends when every sender is gone: the service was dropped.
    while let Ok(job) = queue.recv() {
        job(signer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alipay::keys::PrivateKey;
    use alipay::request::{OutTradeNo, Subject};
    use alipay::sign::SignType;

    fn signer() -> RequestSigner {
        let key = PrivateKey::from_text(include_str!(
            "../../../crates/alipay/tests/vectors/keys/app_private_pkcs1.pem"
        ))
        .unwrap();
        RequestSigner::new("2021000000000001", key, SignType::Rsa2)
    }

    fn pay(no: &str) -> PagePay {
        PagePay::new(
            OutTradeNo::parse(no).unwrap(),
            "1.00".parse().unwrap(),
            Subject::parse("x").unwrap(),
        )
    }

    #[tokio::test]
    async fn signs_in_the_pool_what_the_signer_signs() {
        let signer = signer();
        let pool = SigningPool::start(signer.clone(), 2).unwrap();
        let mut pending = Vec::new();
        for n in 0..8 {
            let pool = pool.clone();
            pending.push(tokio::spawn(async move {
                pool.sign(PayRequest::Page(pay(&format!("P_{n}")))).await
            }));
        }
        for (n, task) in pending.into_iter().enumerate() {
            let signed = task.await.unwrap().unwrap();
            assert!(signed.params()["biz_content"].contains(&format!("P_{n}")));
            // Deterministic PKCS#1 v1.5: the same parameters give the same signature.
            let again = signer.sign_params(signed.params().clone()).unwrap();
            assert_eq!(again.sign(), signed.sign());
        }
    }

    #[tokio::test]
    async fn refusals_come_back_as_errors() {
        let pool = SigningPool::start(signer(), 1).unwrap();
        let mut expired = pay("P_OLD");
        expired.time_expire =
            Some(alipay::request::TimeExpire::parse("2020-01-01 00:00:00").unwrap());
        let error = pool.sign(PayRequest::Page(expired)).await.unwrap_err();
        assert!(matches!(
            error,
            GatewayError::InvalidArgument {
                field: "time_expire",
                ..
            }
        ));
    }
}
