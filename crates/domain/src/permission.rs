//! The fixed permission catalogue the code checks, and role names that group permissions.

use crate::ValidationError;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The permission catalogue, written once: each row is a permission's variant, its wire
/// name and what it allows. `Permission` is made from it below; a crate that needs a type
/// per permission (the HTTP adapter's route markers) expands it with a macro of its own:
/// `storefront_domain::permission_catalogue!(my_macro)`.
#[macro_export]
macro_rules! permission_catalogue {
    ($then:ident) => {
        $then! {
            ProductsCreate => "products:create", "Create products (and manage one's own)";
            ProductsUpdateAny => "products:update_any", "Update any user's products";
            ProductsDeleteAny => "products:delete_any", "Delete any user's products";
            CategoriesManage => "categories:manage", "Create, rename and delete categories";
            ReviewsModerate => "reviews:moderate", "Delete any review";
            OrdersReadAll => "orders:read_all", "Read every user's orders";
            OrdersManage => "orders:manage", "Change the status of and cancel any order";
            UsersRead => "users:read", "List and read user accounts";
            UsersManage => "users:manage", "Change, deactivate and delete user accounts";
            RolesManage => "roles:manage", "Manage roles, their grants and read the audit log";
            AnalyticsRead => "analytics:read", "Read business statistics and event dead letters";
            AiUse => "ai:use", "Chat with the shopping assistant and keep conversations with it";
        }
    };
}

macro_rules! permission_enum {
    ($($variant:ident => $name:literal, $description:literal;)*) => {
        /// A permission the code checks. The catalogue is fixed: roles group these at run time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($variant,)*
        }

        /// How many permissions the catalogue has.
        const PERMISSION_COUNT: usize = [$(stringify!($variant)),*].len();

        impl Permission {
            pub const ALL: [Permission; PERMISSION_COUNT] = [$(Permission::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }

            pub const fn description(self) -> &'static str {
                match self {
                    $(Permission::$variant => $description,)*
                }
            }
        }
    };
}

permission_catalogue!(permission_enum);

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ValidationError::Other(format!("unknown permission `{s}`")))
    }
}

/// The effective permissions of a principal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    /// The effective set for a role: `admin` always holds every permission, whatever the
    /// stored grants say.
    pub fn for_role(role: &RoleName, granted: impl IntoIterator<Item = Permission>) -> Self {
        if role.is_admin() { Self(Permission::ALL.into_iter().collect()) } else { Self(granted.into_iter().collect()) }
    }

    pub fn contains(&self, permission: Permission) -> bool {
        self.0.contains(&permission)
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    /// Whether this set holds every permission of `other`.
    pub fn is_superset(&self, other: &PermissionSet) -> bool {
        self.0.is_superset(&other.0)
    }

    /// The permissions of `other` that this set lacks, in catalogue order.
    pub fn missing_from(&self, other: &PermissionSet) -> Vec<Permission> {
        other.0.difference(&self.0).copied().collect()
    }

    /// Both sets together.
    pub fn union(&self, other: &PermissionSet) -> PermissionSet {
        Self(self.0.union(&other.0).copied().collect())
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// A role's name: 1..=50 of `[a-z0-9_-]`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub const USER: &'static str = "user";
    pub const MODERATOR: &'static str = "moderator";
    pub const ADMIN: &'static str = "admin";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid = (1..=50).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if valid { Ok(Self(raw.to_owned())) } else { Err(ValidationError::InvalidRoleName) }
    }

    /// The role new accounts get.
    pub fn user() -> Self {
        Self(Self::USER.to_owned())
    }

    pub fn admin() -> Self {
        Self(Self::ADMIN.to_owned())
    }

    pub fn is_admin(&self) -> bool {
        self.0 == Self::ADMIN
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self.0.as_str(), Self::USER | Self::MODERATOR | Self::ADMIN)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Default grants of the built-in roles (admin's are implied, see `PermissionSet`).
    pub fn default_grants(&self) -> Vec<Permission> {
        use Permission::*;
        match self.0.as_str() {
            Self::USER => vec![ProductsCreate, AiUse],
            Self::MODERATOR => vec![ProductsCreate, ReviewsModerate, UsersRead, OrdersReadAll, AnalyticsRead, AiUse],
            Self::ADMIN => Permission::ALL.to_vec(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_through_their_names() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
        }
        assert!("products:fly".parse::<Permission>().is_err());
    }

    #[test]
    fn admin_always_holds_every_permission() {
        let set = PermissionSet::for_role(&RoleName::admin(), []);
        assert!(Permission::ALL.iter().all(|p| set.contains(*p)));
        let user = PermissionSet::for_role(&RoleName::user(), [Permission::ProductsCreate]);
        assert!(user.contains(Permission::ProductsCreate) && !user.contains(Permission::UsersRead));
    }

    #[test]
    fn role_names_are_validated() {
        assert!(RoleName::parse("editor").is_ok());
        assert!(RoleName::parse("sales-eu_2").is_ok());
        for bad in ["", "Editor", "1abc", "a b", &"a".repeat(51)] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
