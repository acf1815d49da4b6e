// A TypeScript client of Storefront, typed by `openapi-typescript` from docs/openapi.json
// (generated/schema.d.ts) and driven by `openapi-fetch`. tests/openapi/run.sh type-checks it
// with `tsc --strict`: if an operation, a field or a status the script relies on changes in
// the document, this stops compiling. It is not run (the Python client is).
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema";

type Problem = components["schemas"]["Problem"];
type Product = components["schemas"]["ProductResponse"];
type Order = components["schemas"]["OrderResponse"];

export async function shop(baseUrl: string, email: string, password: string): Promise<Order> {
  const api = createClient<paths>({ baseUrl });

  const login = await api.POST("/api/v1/auth/login", { body: { email, password } });
  if (login.error) {
    throw new Error(describe(login.error));
  }
  // The bearer token goes with every later request (the document's `security`, not a parameter).
  const session = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${login.data.access_token}` } });

  const page = await session.GET("/api/v1/products", {
    params: { query: { sort: "-price", in_stock: true, limit: 5 } },
  });
  if (page.error) {
    throw new Error(describe(page.error));
  }
  // A page's items are the very type a single product read answers (no per-list copy).
  const first: Product | undefined = page.data.items[0];
  if (first === undefined) {
    throw new Error(`no product in stock among ${page.data.total}`);
  }

  const placed = await session.POST("/api/v1/orders", {
    params: { header: { "Idempotency-Key": `order-${first.id}` } },
    body: { items: [{ product_id: first.id, quantity: 1 }] },
  });
  if (placed.error) {
    throw new Error(describe(placed.error));
  }
  return placed.data;
}

/** A problem's code, and each field it names. */
function describe(problem: Problem): string {
  const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`);
  return [`${problem.status} ${problem.code}: ${problem.detail}`, ...fields].join("\n");
}
