//! A profile's header roles (profiles.md §1): which values it sends, under which
//! names, and whether its names go out in Title-Case on HTTP/1.1.

use std::fmt;

use http::HeaderName;

/// A value a profile may send in a header of its choosing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HeaderRole {
    /// The event's id.
    EventId,
    /// Unix seconds of this attempt's signing.
    Timestamp,
    /// The signature.
    Signature,
    /// The event's type.
    EventType,
    /// The delivery's id.
    DeliveryId,
    /// The attempt number (1, 2, ...).
    Attempt,
    /// The endpoint's id.
    EndpointId,
    /// The tenant.
    Tenant,
}

impl HeaderRole {
    /// Every role, in the order the API lists them.
    pub const ALL: [HeaderRole; 8] = [
        HeaderRole::EventId,
        HeaderRole::Timestamp,
        HeaderRole::Signature,
        HeaderRole::EventType,
        HeaderRole::DeliveryId,
        HeaderRole::Attempt,
        HeaderRole::EndpointId,
        HeaderRole::Tenant,
    ];

    /// Reads a role as profiles name it.
    pub fn parse(text: &str) -> Option<Self> {
        HeaderRole::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
    }

    /// The name profiles use for it.
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderRole::EventId => "event_id",
            HeaderRole::Timestamp => "timestamp",
            HeaderRole::Signature => "signature",
            HeaderRole::EventType => "event_type",
            HeaderRole::DeliveryId => "delivery_id",
            HeaderRole::Attempt => "attempt",
            HeaderRole::EndpointId => "endpoint_id",
            HeaderRole::Tenant => "tenant",
        }
    }
}

impl fmt::Display for HeaderRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The roles a profile sends, each under its name as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    names: Vec<Named>,
}

/// One role and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    role: HeaderRole,
    /// As configured.
    name: String,
    /// As it goes on the wire: lower case, parsed once here rather than for every
    /// request; `None` for a name that is not a valid header name.
    wire: Option<HeaderName>,
}

impl HeaderNames {
    /// The names, as given (validated by the profile).
    pub(crate) fn new(names: Vec<(HeaderRole, String)>) -> Self {
        let names = names
            .into_iter()
            .map(|(role, name)| Named {
                role,
                wire: HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok(),
                name,
            })
            .collect();
        Self { names }
    }

    /// The header of `role`, if the profile sends it.
    pub fn get(&self, role: HeaderRole) -> Option<&str> {
        self.names
            .iter()
            .find(|named| named.role == role)
            .map(|named| named.name.as_str())
    }

    /// Every role sent, with its name.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderRole, &str)> {
        self.names
            .iter()
            .map(|named| (named.role, named.name.as_str()))
    }

    /// Every role sent whose name is a valid header name, with that name as it goes
    /// on the wire.
    pub(crate) fn wire(&self) -> impl Iterator<Item = (HeaderRole, &HeaderName)> {
        self.names
            .iter()
            .filter_map(|named| Some((named.role, named.wire.as_ref()?)))
    }

    /// Whether any name is written with capitals: such a profile's requests go out
    /// on HTTP/1.1 with Title-Case names (hyper's client offers lower case or
    /// Title-Case; exact case would need its private header-case map).
    pub fn title_case(&self) -> bool {
        self.names
            .iter()
            .any(|named| named.name.bytes().any(|b| b.is_ascii_uppercase()))
    }
}
