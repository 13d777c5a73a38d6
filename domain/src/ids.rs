//! Identifiers. Each wraps a UUID built from bytes supplied by the
//! [`SecureRandom`](crate::ports::SecureRandom) port, so the domain needs no random source of its own.

use std::fmt;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Builds a version 4 UUID from 16 random bytes.
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A session, which is also the family of refresh tokens rotated from one login.
    SessionId
);
id_type!(
    /// One refresh token within a session's family.
    RefreshTokenId
);
id_type!(
    /// One audit event.
    AuditEventId
);
