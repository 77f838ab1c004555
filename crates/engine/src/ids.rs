//! Identities of everything Boxoffice sells, each a newtype so that a venue id
//! can never be passed where a performance id is meant.
//!
//! Catalogue and user ids are small sequential integers. A ticket id and an
//! order id are opaque strings to clients, but each also names its
//! performance, so a request can be routed to the right actor from the id
//! alone: `"{performance}-{index}"`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! integer_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, ParseIdError> {
                parse_u32(text).map($name)
            }
        }
    };
}

integer_id!(
    /// A city: the unit of sharding.
    CityId
);
integer_id!(
    /// A venue, which belongs to exactly one city.
    VenueId
);
integer_id!(
    /// A performance, owned by exactly one actor.
    PerformanceId
);
integer_id!(
    /// A registered buyer.
    UserId
);

/// A text that is not an id of the expected kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct ParseIdError;

/// One ticket: a seat, or one unit of a standing section.
///
/// `index` is the ticket's position in its performance's seat plan, so the
/// seat map can be a flat array indexed by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TicketId {
    pub performance: PerformanceId,
    pub index: u32,
}

/// One purchase: numbered per performance, so the actor that owns the
/// performance can hand out order numbers without asking anyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId {
    pub performance: PerformanceId,
    pub number: u32,
}

macro_rules! compound_id {
    ($name:ident, $second:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}-{}", self.performance, self.$second)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, ParseIdError> {
                let (performance, second) = text.split_once('-').ok_or(ParseIdError)?;
                Ok($name { performance: performance.parse()?, $second: parse_u32(second)? })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    (self.performance.0, self.$second).serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                    text.parse().map_err(|_| serde::de::Error::custom("not a valid id"))
                } else {
                    let (performance, second) = <(u32, u32)>::deserialize(deserializer)?;
                    Ok($name { performance: PerformanceId(performance), $second: second })
                }
            }
        }
    };
}

compound_id!(TicketId, index);
compound_id!(OrderId, number);

/// Parses a plain decimal `u32` written one way only: no sign, no
/// whitespace, no leading zeros (so `084` and `84` are not both names of
/// one thing).
fn parse_u32(text: &str) -> Result<u32, ParseIdError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseIdError);
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(ParseIdError);
    }
    text.parse().map_err(|_| ParseIdError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_round_trip_through_text() {
        let id = TicketId { performance: PerformanceId(17), index: 1203 };
        assert_eq!(id.to_string(), "17-1203");
        assert_eq!("17-1203".parse::<TicketId>(), Ok(id));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for text in [
            "",
            "17",
            "17-",
            "-3",
            "a-1",
            "1-+2",
            " 1-2",
            "1-2-3",
            "99999999999-1",
            "017-1",
            "17-01",
        ] {
            assert_eq!(text.parse::<TicketId>(), Err(ParseIdError), "{text:?}");
        }
    }
}
