//! The HTTP/1.1 worker: one keep-alive connection (hyper's client connection, no pool, like wrk),
//! a request made fresh for each call, and the tool's own idea of success.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::AnyError;
use crate::driver::{Answer, Worker};

/// One connection; `request` makes each request, `success` judges each answer.
#[derive(Debug)]
pub struct HttpWorker<R, S> {
    sender: SendRequest<Full<Bytes>>,
    request: R,
    success: S,
}

impl<R, S> HttpWorker<R, S>
where
    R: FnMut() -> Request<Full<Bytes>> + Send + 'static,
    S: Fn(StatusCode, &Bytes) -> bool + Send + 'static,
{
    pub async fn connect(address: SocketAddr, request: R, success: S) -> Result<Self, AnyError> {
        Ok(Self {
            sender: connect(address).await?,
            request,
            success,
        })
    }
}

impl<R, S> Worker for HttpWorker<R, S>
where
    R: FnMut() -> Request<Full<Bytes>> + Send + 'static,
    S: Fn(StatusCode, &Bytes) -> bool + Send + 'static,
{
    async fn call(&mut self) -> Answer {
        let request = (self.request)();
        if self.sender.ready().await.is_err() {
            return Answer::Broken;
        }
        let answered = async {
            let response = self.sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, AnyError>((status, body))
        }
        .await;
        match answered {
            Ok((status, body)) if (self.success)(status, &body) => Answer::Success,
            Ok((status, _)) => Answer::Failure {
                code: status.as_u16(),
                detail: status.to_string(),
            },
            Err(_) => Answer::Broken,
        }
    }
}

/// A keep-alive HTTP/1.1 connection to `address` (no Nagle: requests are small).
pub async fn connect(address: SocketAddr) -> Result<SendRequest<Full<Bytes>>, AnyError> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One GET on a connection of its own; the body.
pub async fn get(
    address: SocketAddr,
    path: &str,
    authorization: Option<&str>,
) -> Result<Bytes, AnyError> {
    let mut sender = connect(address).await?;
    let mut request = Request::get(path).header(hyper::header::HOST, address.to_string());
    if let Some(authorization) = authorization {
        request = request.header(hyper::header::AUTHORIZATION, authorization);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::new()))?)
        .await?;
    Ok(response.into_body().collect().await?.to_bytes())
}
