//! Every documented operation of the API, declared once: a handler and who may call it.
//! The handler's own `#[utoipa::path]` says its method and path, so one line here yields the
//! actix route (`resources`), the OpenAPI path with its `x-required-permission`
//! (`document`), and the row the permission tests walk (`operations`). Adding an endpoint is
//! its handler plus one line in `DECLARATIONS`.

use crate::catalog::{categories, moderation, products, reviews};
use crate::permissions::{self, Guard};
use crate::routing::Endpoint;
use crate::{
    accounts, admin, ai_utilities, assistant, auth, docs, events, health, insights, lifecycle, mfa, orders, roles,
    stats,
};
use actix_web::Resource;
use actix_web::http::Method;
use std::sync::LazyLock;
use storefront_domain::Permission;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::path::{Operation as DocumentedOperation, PathItem};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (a bearer token may still be optional, as on `GET /products`).
    Public,
    /// Any authenticated caller.
    Bearer,
    /// An authenticated caller holding `permission`, used as `guard` says.
    Permission { permission: Permission, guard: Guard },
}

const fn required(permission: Permission) -> Access {
    Access::Permission { permission, guard: Guard::Required }
}

const fn owner_or(permission: Permission) -> Access {
    Access::Permission { permission, guard: Guard::OwnerOr }
}

const fn owner_or_hidden(permission: Permission) -> Access {
    Access::Permission { permission, guard: Guard::OwnerOrHidden }
}

/// One line of the table: the handler's document fragment and its route, and its access.
struct Declaration {
    access: Access,
    /// The handler's `#[utoipa::path]` as a one-path document (with the schemas it names).
    fragment: fn() -> Document,
    /// Adds the handler to a resource under the given method.
    route: fn(Endpoint, Method) -> Endpoint,
}

/// Turns `module::handler => access;` lines into declarations. utoipa names the generated
/// path type `__path_handler`, which `macro_rules!` cannot spell; a one-path `OpenApi`
/// derive per handler resolves it for us.
macro_rules! declarations {
    ($($module:ident :: $handler:ident => $access:expr;)+) => {
        &[$(
            Declaration {
                access: $access,
                fragment: || {
                    #[derive(utoipa::OpenApi)]
                    #[openapi(paths($module::$handler))]
                    struct Fragment;
                    <Fragment as utoipa::OpenApi>::openapi()
                },
                route: |endpoint, method| endpoint.on(method, $module::$handler),
            },
        )+]
    };
}

/// Every documented operation. Routes are matched in this order, so a literal segment
/// (`/users/me`) comes before the template it would also match (`/users/{id}`).
const DECLARATIONS: &[Declaration] = declarations! {
    docs::root => Access::Public;
    health::health => Access::Public;
    health::ready => Access::Public;
    accounts::register => Access::Public;
    accounts::me => Access::Bearer;
    accounts::update_me => Access::Bearer;
    accounts::replace_me => Access::Bearer;
    accounts::delete_me => Access::Bearer;
    accounts::change_password => Access::Bearer;
    auth::token => Access::Public;
    auth::login => Access::Public;
    auth::refresh => Access::Public;
    auth::logout => Access::Public;
    auth::logout_all => Access::Bearer;
    auth::sessions => Access::Bearer;
    auth::end_session => Access::Bearer;
    roles::list_permissions => required(Permission::RolesManage);
    roles::list_roles => required(Permission::RolesManage);
    roles::create_role => required(Permission::RolesManage);
    roles::get_role => required(Permission::RolesManage);
    roles::delete_role => required(Permission::RolesManage);
    roles::grant_permission => required(Permission::RolesManage);
    roles::revoke_permission => required(Permission::RolesManage);
    roles::my_permissions => Access::Bearer;
    admin::list_users => required(Permission::UsersRead);
    admin::get_user => required(Permission::UsersRead);
    admin::update_user => required(Permission::UsersManage);
    admin::delete_user => required(Permission::UsersManage);
    admin::audit_log => required(Permission::RolesManage);
    products::list_products => Access::Public;
    products::create_product => required(Permission::ProductsCreate);
    products::get_product => Access::Public;
    products::update_product => owner_or(Permission::ProductsUpdateAny);
    products::delete_product => owner_or(Permission::ProductsDeleteAny);
    products::like_product => Access::Bearer;
    products::unlike_product => Access::Bearer;
    products::my_likes => Access::Bearer;
    categories::list_categories => Access::Public;
    categories::get_category => Access::Public;
    categories::create_category => required(Permission::CategoriesManage);
    categories::update_category => required(Permission::CategoriesManage);
    categories::delete_category => required(Permission::CategoriesManage);
    reviews::list_reviews => Access::Public;
    reviews::create_review => Access::Bearer;
    reviews::get_review => Access::Public;
    reviews::update_review => Access::Bearer;
    reviews::delete_review => owner_or(Permission::ReviewsModerate);
    orders::place_order => Access::Bearer;
    // The caller's own orders; everyone's (`?scope=all`) with the permission.
    orders::list_orders => owner_or(Permission::OrdersReadAll);
    orders::get_order => owner_or_hidden(Permission::OrdersReadAll);
    orders::cancel_order => owner_or_hidden(Permission::OrdersManage);
    orders::update_order => required(Permission::OrdersManage);
    stats::business_stats => required(Permission::AnalyticsRead);
    events::list_dead_letters => required(Permission::AnalyticsRead);
    events::retry_dead_letter => required(Permission::AnalyticsRead);
    // The assistant (#18).
    assistant::chat => required(Permission::AiUse);
    assistant::create_conversation => required(Permission::AiUse);
    assistant::list_conversations => required(Permission::AiUse);
    assistant::get_conversation => required(Permission::AiUse);
    assistant::delete_conversation => required(Permission::AiUse);
    assistant::list_messages => required(Permission::AiUse);
    assistant::my_ai_usage => Access::Bearer;
    // The assistant's text utilities (#19).
    ai_utilities::summarize => required(Permission::AiUse);
    ai_utilities::moderate => required(Permission::AiUse);
    ai_utilities::classify => required(Permission::AiUse);
    ai_utilities::generate => required(Permission::AiUse);
    // The assistant's catalogue features (#19): review summaries, description
    // suggestions, the usage report.
    insights::review_summary => Access::Public;
    insights::suggest_description => owner_or(Permission::ProductsUpdateAny);
    insights::ai_usage_report => required(Permission::AnalyticsRead);
    // The account life cycle (#17): verification, reset, email change, the second factor.
    lifecycle::request_verification => Access::Bearer;
    lifecycle::verify_email => Access::Public;
    lifecycle::forgot_password => Access::Public;
    lifecycle::reset_password => Access::Public;
    lifecycle::change_email => Access::Bearer;
    lifecycle::confirm_email_change => Access::Public;
    mfa::enrol_totp => Access::Bearer;
    mfa::confirm_totp => Access::Bearer;
    mfa::disable_totp => Access::Bearer;
    mfa::login_mfa => Access::Public;
    admin::reset_mfa => required(Permission::UsersManage);
    // Review moderation (#19).
    moderation::list_moderated_reviews => required(Permission::ReviewsModerate);
    moderation::decide_review => required(Permission::ReviewsModerate);
};

/// One routed and documented operation, as the table yields it.
#[derive(Clone)]
pub struct Operation {
    /// The OpenAPI method, lower case (`get`).
    pub method: &'static str,
    /// The path template, the same for actix and OpenAPI (`/api/v1/users/{id}`).
    pub path: String,
    pub access: Access,
    route: fn(Endpoint, Method) -> Endpoint,
}

impl Operation {
    /// The permission and its use, for a permission-protected operation.
    pub fn permission(&self) -> Option<(Permission, Guard)> {
        match self.access {
            Access::Permission { permission, guard } => Some((permission, guard)),
            Access::Public | Access::Bearer => None,
        }
    }
}

/// The operations a path item documents, by OpenAPI method.
fn slots(item: &mut PathItem) -> [(&'static str, &mut Option<DocumentedOperation>); 5] {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
    ]
}

fn actix_method(method: &str) -> Method {
    match method {
        "post" => Method::POST,
        "put" => Method::PUT,
        "patch" => Method::PATCH,
        "delete" => Method::DELETE,
        _ => Method::GET,
    }
}

static OPERATIONS: LazyLock<Vec<Operation>> = LazyLock::new(|| {
    let mut all = Vec::new();
    for declaration in DECLARATIONS {
        for (path, mut item) in (declaration.fragment)().paths.paths {
            for (method, slot) in slots(&mut item) {
                if slot.is_some() {
                    all.push(Operation {
                        method,
                        path: path.clone(),
                        access: declaration.access,
                        route: declaration.route,
                    });
                }
            }
        }
    }
    all
});

/// Every operation of the table, in declaration order.
pub fn operations() -> &'static [Operation] {
    &OPERATIONS
}

/// The routes of every operation: one resource per path (its `405` lists the methods
/// declared for it, `GET, HEAD, POST, PATCH, PUT, DELETE` in that order), in the order the
/// paths first appear in the table.
pub fn resources() -> Vec<Resource> {
    let mut by_path: Vec<(&str, Vec<&Operation>)> = Vec::new();
    for op in operations() {
        match by_path.iter_mut().find(|(path, _)| *path == op.path) {
            Some((_, ops)) => ops.push(op),
            None => by_path.push((&op.path, vec![op])),
        }
    }
    by_path
        .into_iter()
        .map(|(path, mut ops)| {
            // `Allow` lists the methods in the order they are added: keep it one order
            // whatever the order of the declarations.
            ops.sort_by_key(|op| ["get", "post", "patch", "put", "delete"].iter().position(|m| *m == op.method));
            ops.into_iter()
                .fold(Endpoint::new(path), |endpoint, op| (op.route)(endpoint, actix_method(op.method)))
                .build()
        })
        .collect()
}

/// Adds every operation to `document`, each stamped with its required permission; a
/// public operation that names no security says so with an empty `security` list (an
/// operation without the key would inherit a document-wide requirement, and linters and
/// client generators cannot tell "public" from "forgotten").
pub fn document(document: &mut Document) {
    for declaration in DECLARATIONS {
        let mut fragment = (declaration.fragment)();
        if declaration.access == Access::Public {
            for item in fragment.paths.paths.values_mut() {
                for (_, slot) in slots(item) {
                    if let Some(operation) = slot {
                        operation.security.get_or_insert_with(Vec::new);
                    }
                }
            }
        }
        if let Access::Permission { permission, guard } = declaration.access {
            for item in fragment.paths.paths.values_mut() {
                for (_, slot) in slots(item) {
                    if let Some(operation) = slot {
                        permissions::stamp(operation, permission, guard);
                    }
                }
            }
        }
        document.merge(fragment);
    }
}
