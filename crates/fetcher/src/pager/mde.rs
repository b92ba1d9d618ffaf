//! Defender for Endpoint `/api/alerts` paging: OData on `lastUpdateTime`, `$top` ≤ 10,000 and
//! an unbounded `$skip`, so a tie (a whole page sharing one `lastUpdateTime` L, where keyset
//! cannot move) is paged through `ge L and le L` with `$skip`, walked again until a walk finds
//! nothing new, then left with `gt L`.

use super::{Note, PageRead, Pager, Query};

pub(super) fn render(q: &Query, top: u32, expand: bool) -> String {
    let op = if q.exclusive { "gt" } else { "ge" };
    let mut s = format!("$filter=lastUpdateTime+{op}+{}", q.from);
    if let Some(u) = q.until {
        s.push_str(&format!("+and+lastUpdateTime+le+{u}"));
    }
    s.push_str(&format!("&$orderby=lastUpdateTime+asc&$top={top}"));
    if q.skip > 0 {
        s.push_str(&format!("&$skip={}", q.skip));
    }
    if expand {
        s.push_str("&$expand=evidence");
    }
    s
}

impl Pager {
    /// The next query after a readable page; true when the cycle is done.
    pub(super) fn mde_next(&mut self, page: &PageRead, full: bool, notes: &mut Vec<Note>) -> bool {
        if self.q.until.is_some() {
            self.walk.items += page.items;
        }
        if !full {
            let Some(u) = self.q.until else { return true };
            if self.walk_again(u, notes) {
                self.q.skip = 0;
            }
            return false;
        }
        if self.q.until.is_some() {
            // In the tie walk: keep skipping through it.
            self.q.skip += page.items;
            return false;
        }
        if let Some(l) = self.keyset_next(page) {
            self.start_walk(l, page, notes);
            self.q = Query {
                until: Some(l),
                skip: page.items,
                ..Query::keyset(l)
            };
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alert_model::Timestamp;

    #[test]
    fn query_renders_odata() {
        let t = Timestamp::parse("2026-01-01T00:00:00.84Z").unwrap();
        let q = Query {
            from: t,
            exclusive: false,
            until: Some(t),
            skip: 3000,
            created: None,
        };
        assert_eq!(
            render(&q, 1000, true),
            "$filter=lastUpdateTime+ge+2026-01-01T00:00:00.84Z+and+lastUpdateTime+le+2026-01-01T00:00:00.84Z&$orderby=lastUpdateTime+asc&$top=1000&$skip=3000&$expand=evidence"
        );
    }
}
