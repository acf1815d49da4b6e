//! Permission-based authorization at the route: `RequirePermission<UsersRead>` in a
//! handler's arguments authenticates the caller and demands the permission (401 without
//! credentials, 403 without the permission). `PROTECTED_OPERATIONS` lists every protected
//! operation once; it stamps `x-required-permission` on the OpenAPI document, and the
//! HTTP tests walk it (anonymous → 401, plain user → 403, holder → 2xx), so the table, the
//! routes and the document cannot disagree.

use crate::error::ApiError;
use crate::extract::Authenticated;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use std::marker::PhantomData;
use storefront_app::Principal;
use storefront_domain::Permission;
use utoipa::Modify;
use utoipa::openapi::extensions::ExtensionsBuilder;

/// A permission as a type, so that a route declares what it needs in its signature.
pub trait PermissionMarker {
    const PERMISSION: Permission;
}

macro_rules! permission_markers {
    ($($marker:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($marker), "` permission, as a type.")]
            pub struct $marker;
            impl PermissionMarker for $marker {
                const PERMISSION: Permission = Permission::$marker;
            }
        )*
    };
}

permission_markers!(
    ProductsCreate,
    ProductsUpdateAny,
    ProductsDeleteAny,
    CategoriesManage,
    ReviewsModerate,
    OrdersReadAll,
    OrdersManage,
    UsersRead,
    UsersManage,
    RolesManage,
    AnalyticsRead,
);

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

/// One permission-protected operation, as the OpenAPI document names it.
#[derive(Debug, Clone, Copy)]
pub struct ProtectedOperation {
    pub method: &'static str,
    /// The OpenAPI path template (`/api/v1/users/{id}`).
    pub path: &'static str,
    pub permission: Permission,
    pub guard: Guard,
}

const fn required(method: &'static str, path: &'static str, permission: Permission) -> ProtectedOperation {
    ProtectedOperation { method, path, permission, guard: Guard::Required }
}

const fn owner_or(method: &'static str, path: &'static str, permission: Permission) -> ProtectedOperation {
    ProtectedOperation { method, path, permission, guard: Guard::OwnerOr }
}

const fn owner_or_hidden(method: &'static str, path: &'static str, permission: Permission) -> ProtectedOperation {
    ProtectedOperation { method, path, permission, guard: Guard::OwnerOrHidden }
}

/// Every permission-protected operation of the API. A route that takes
/// `RequirePermission<P>` (or checks an overriding permission in its service) MUST have
/// its row here; the tests fail otherwise.
pub const PROTECTED_OPERATIONS: &[ProtectedOperation] = &[
    required("get", "/api/v1/permissions", Permission::RolesManage),
    required("get", "/api/v1/roles", Permission::RolesManage),
    required("post", "/api/v1/roles", Permission::RolesManage),
    required("get", "/api/v1/roles/{name}", Permission::RolesManage),
    required("delete", "/api/v1/roles/{name}", Permission::RolesManage),
    required("put", "/api/v1/roles/{name}/permissions/{permission}", Permission::RolesManage),
    required("delete", "/api/v1/roles/{name}/permissions/{permission}", Permission::RolesManage),
    required("get", "/api/v1/admin/audit", Permission::RolesManage),
    required("get", "/api/v1/users", Permission::UsersRead),
    required("get", "/api/v1/users/{id}", Permission::UsersRead),
    required("patch", "/api/v1/users/{id}", Permission::UsersManage),
    required("delete", "/api/v1/users/{id}", Permission::UsersManage),
    required("post", "/api/v1/products", Permission::ProductsCreate),
    owner_or("patch", "/api/v1/products/{id}", Permission::ProductsUpdateAny),
    owner_or("delete", "/api/v1/products/{id}", Permission::ProductsDeleteAny),
    required("post", "/api/v1/categories", Permission::CategoriesManage),
    required("patch", "/api/v1/categories/{id}", Permission::CategoriesManage),
    required("delete", "/api/v1/categories/{id}", Permission::CategoriesManage),
    owner_or("delete", "/api/v1/reviews/{id}", Permission::ReviewsModerate),
    // The caller's own orders; everyone's (`?scope=all`) with the permission.
    owner_or("get", "/api/v1/orders", Permission::OrdersReadAll),
    owner_or_hidden("get", "/api/v1/orders/{id}", Permission::OrdersReadAll),
    owner_or_hidden("post", "/api/v1/orders/{id}/cancel", Permission::OrdersManage),
    required("patch", "/api/v1/orders/{id}", Permission::OrdersManage),
    required("get", "/api/v1/admin/stats", Permission::AnalyticsRead),
    required("get", "/api/v1/admin/events/dead-letters", Permission::AnalyticsRead),
    required("post", "/api/v1/admin/events/dead-letters/{id}/retry", Permission::AnalyticsRead),
];

/// Stamps `x-required-permission` on every protected operation and says "owner or …" in
/// the description of owner-or-permission ones.
pub struct RequiredPermissions;

impl Modify for RequiredPermissions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for op in PROTECTED_OPERATIONS {
            let Some(item) = openapi.paths.paths.get_mut(op.path) else { continue };
            let operation = match op.method {
                "get" => item.get.as_mut(),
                "post" => item.post.as_mut(),
                "put" => item.put.as_mut(),
                "patch" => item.patch.as_mut(),
                "delete" => item.delete.as_mut(),
                _ => None,
            };
            let Some(operation) = operation else { continue };
            let extension = ExtensionsBuilder::new().add("x-required-permission", op.permission.as_str()).build();
            match operation.extensions.as_mut() {
                Some(existing) => existing.merge(extension),
                None => operation.extensions = Some(extension),
            }
            let requirement = match op.guard {
                Guard::Required => format!("Requires the `{}` permission.", op.permission),
                Guard::OwnerOr => format!("Allowed to the owner or `{}`.", op.permission),
                Guard::OwnerOrHidden => format!(
                    "Allowed to the owner or `{}`; to anyone else the resource does not exist (404).",
                    op.permission
                ),
            };
            operation.description = Some(match operation.description.take() {
                Some(existing) if !existing.is_empty() => format!("{existing}\n\n{requirement}"),
                _ => requirement,
            });
        }
    }
}
