//! The page of a filtered list together with the list's total, as every administrative
//! list reads them.

/// Reads a page of `$matching` (a filtered query, built afresh for the count and for the
/// page) in `$order`, loaded as `$row` rows and converted into `$item`s, with the total of
/// the same filter, in one read-only snapshot so that the two agree. A macro rather than a
/// function: the boxed query types differ per table, and diesel's bounds for "countable,
/// orderable, loadable" would be longer than the body.
macro_rules! snapshot_page {
    ($store:expr, $page:expr, $matching:expr, $order:expr, $row:ty, $item:ty) => {
        $store
            .bounded(async {
                let mut conn = $store.conn().await?;
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run::<_, $crate::error::TxError, _>(async |conn| {
                        let total: i64 = $matching.count().get_result(conn).await?;
                        let rows = $matching
                            .order($order)
                            .limit(i64::from($page.limit))
                            .offset(i64::try_from($page.offset).unwrap_or(i64::MAX))
                            .select(<$row>::as_select())
                            .load(conn)
                            .await?;
                        let items = rows.into_iter().map(<$item>::try_from).collect::<Result<_, _>>()?;
                        Ok(Page { items, total: u64::try_from(total).unwrap_or(0) })
                    })
                    .await
                    .map_err(StoreError::from)
            })
            .await
    };
}
