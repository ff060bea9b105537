//! The JSON envelope of the original Django backend, which the existing frontend reads unchanged:
//! `{"code":1,"msg":"ok","data":…}` on success, `{"code":0,"msg":"…"}` on failure.
//!
//! The frontend branches on `code`, not on the HTTP status, so every response of the legacy
//! routes (`/order/pay/`, `/order/success/`) is wrapped; the HTTP status is still set properly.
//! Framework-neutral on purpose: each service maps its error enum to an [`Envelope`] in its own
//! `ResponseError`, and the gateway (gRPC only) does not pull in a web framework.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `code` of the envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// `0`
    Failure,
    /// `1`
    Success,
}

impl Code {
    pub fn as_u8(self) -> u8 {
        match self {
            Code::Failure => 0,
            Code::Success => 1,
        }
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.as_u8())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            0 => Ok(Code::Failure),
            1 => Ok(Code::Success),
            other => Err(serde::de::Error::custom(format!(
                "envelope code must be 0 or 1, got {other}"
            ))),
        }
    }
}

/// The message of a success envelope.
pub const OK_MESSAGE: &str = "ok";

/// `{"code","msg","data"}`; `data` is omitted when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: Code,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    /// `{"code":1,"msg":"ok","data":data}`
    pub fn ok(data: T) -> Self {
        Self {
            code: Code::Success,
            msg: OK_MESSAGE.to_owned(),
            data: Some(data),
        }
    }

    /// `{"code":1,"msg":msg,"data":data}`
    pub fn ok_with_message(data: T, msg: impl Into<String>) -> Self {
        Self {
            code: Code::Success,
            msg: msg.into(),
            data: Some(data),
        }
    }

    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
}

impl Envelope<()> {
    /// `{"code":1,"msg":msg}`
    pub fn success(msg: impl Into<String>) -> Self {
        Self {
            code: Code::Success,
            msg: msg.into(),
            data: None,
        }
    }

    /// `{"code":0,"msg":msg}`: the message is shown to the user, so it must not carry internals.
    pub fn failure(msg: impl Into<String>) -> Self {
        Self {
            code: Code::Failure,
            msg: msg.into(),
            data: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_carries_data() {
        let body = serde_json::to_value(Envelope::ok("https://pay.example/?x=1")).unwrap();
        assert_eq!(
            body,
            json!({"code": 1, "msg": "ok", "data": "https://pay.example/?x=1"})
        );

        let body = serde_json::to_value(Envelope::ok_with_message(vec![1, 2], "paid")).unwrap();
        assert_eq!(body, json!({"code": 1, "msg": "paid", "data": [1, 2]}));
    }

    #[test]
    fn messages_without_data_omit_it() {
        let body = serde_json::to_value(Envelope::failure("total does not match")).unwrap();
        assert_eq!(body, json!({"code": 0, "msg": "total does not match"}));
        let body = serde_json::to_value(Envelope::success("paid")).unwrap();
        assert_eq!(body, json!({"code": 1, "msg": "paid"}));
    }

    #[test]
    fn envelopes_read_back() {
        let read: Envelope<String> =
            serde_json::from_value(json!({"code": 1, "msg": "ok", "data": "x"})).unwrap();
        assert!(read.is_success());
        assert_eq!(read.data.as_deref(), Some("x"));
        let read: Envelope<String> =
            serde_json::from_value(json!({"code": 0, "msg": "no"})).unwrap();
        assert!(!read.is_success());
        assert_eq!(read.data, None);
        assert!(serde_json::from_value::<Envelope<()>>(json!({"code": 2, "msg": ""})).is_err());
    }
}
