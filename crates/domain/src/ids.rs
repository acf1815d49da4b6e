//! Typed identifiers, so a session id can never be passed where a user id belongs.

use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
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
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies a session: one login on one device, i.e. one refresh-token family.
    SessionId
);
id_type!(
    /// Identifies a product.
    ProductId
);
id_type!(
    /// Identifies a category.
    CategoryId
);
id_type!(
    /// Identifies a review.
    ReviewId
);
id_type!(
    /// Identifies an order.
    OrderId
);
id_type!(
    /// Identifies an event; time-ordered (UUID v7), so ids sort roughly as events happened.
    EventId
);
id_type!(
    /// Identifies a conversation with the assistant.
    ConversationId
);
id_type!(
    /// Identifies one message of a conversation with the assistant.
    ChatMessageId
);
