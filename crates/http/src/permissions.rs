//! Permission-based authorization at the route: `RequirePermission<UsersRead>` in a
//! handler's arguments authenticates the caller and demands the permission (401 without
//! credentials, 403 without the permission). Which operation needs which permission is
//! declared once, in `operations`; `stamp` writes it into the OpenAPI document, and the
//! HTTP tests walk that table (anonymous → 401, plain user → 403, holder → 2xx).

use crate::bearer::Authenticated;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use std::marker::PhantomData;
use storefront_app::Principal;
use storefront_domain::Permission;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;

/// A permission as a type, so that a route declares what it needs in its signature.
pub trait PermissionMarker {
    const PERMISSION: Permission;
}

/// A marker type per permission of the domain's catalogue, named as its variant.
macro_rules! permission_markers {
    ($($variant:ident => $name:literal, $description:literal;)*) => {
        $(
            #[doc = concat!("The `", $name, "` permission, as a type.")]
            pub struct $variant;
            impl PermissionMarker for $variant {
                const PERMISSION: Permission = Permission::$variant;
            }
        )*
    };
}

storefront_domain::permission_catalogue!(permission_markers);

/// An authenticated caller holding `P::PERMISSION`.
pub struct RequirePermission<P: PermissionMarker>(pub Principal, PhantomData<P>);

impl<P: PermissionMarker> RequirePermission<P> {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

impl<P: PermissionMarker + 'static> FromRequest for RequirePermission<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Authenticated::from_request(req, payload);
        let path = req.path().to_owned();
        Box::pin(async move {
            let Authenticated(principal) = authenticated.await?;
            if principal.permissions.contains(P::PERMISSION) {
                Ok(RequirePermission(principal, PhantomData))
            } else {
                tracing::warn!(
                    event = "permission_denied",
                    user_id = %principal.user.id,
                    permission = P::PERMISSION.as_str(),
                    path,
                    "permission denied"
                );
                Err(ApiError::Forbidden)
            }
        })
    }
}

/// How a protected operation uses its permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Only holders of the permission may call it.
    Required,
    /// The resource's owner may, and so may holders of the (overriding) permission.
    OwnerOr,
    /// As `OwnerOr`, but to anyone else the resource does not exist (404, not 403), so
    /// that its existence is not leaked.
    OwnerOrHidden,
}

/// Stamps `x-required-permission` on a protected operation of the document and says
/// "owner or …" in the description of owner-or-permission ones.
pub(crate) fn stamp(operation: &mut Operation, permission: Permission, guard: Guard) {
    let extension = ExtensionsBuilder::new().add("x-required-permission", permission.as_str()).build();
    operation.extensions.get_or_insert_with(Default::default).merge(extension);
    let requirement = match guard {
        Guard::Required => format!("Requires the `{permission}` permission."),
        Guard::OwnerOr => format!("Allowed to the owner or `{permission}`."),
        Guard::OwnerOrHidden => {
            format!("Allowed to the owner or `{permission}`; to anyone else the resource does not exist (404).")
        }
    };
    operation.description = Some(match operation.description.take() {
        Some(existing) if !existing.is_empty() => format!("{existing}\n\n{requirement}"),
        _ => requirement,
    });
}
