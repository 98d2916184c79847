//! The model's weight table, placed where the processor's address translation can keep up.
//!
//! Scoring reads ~400 random rows of a 16 MB table per tweet. In 4 KiB pages that table spans 4,096
//! pages, far more than the data TLB holds, so most row reads first walk the page tables; the
//! prefetches the scorer issues then stall instead of running ahead (a profile of `coinpulse score`
//! put 28% of all samples on the instruction after the prefetch). Backed by 2 MiB pages the table
//! needs 8 TLB entries.
//!
//! Linux gives an anonymous mapping huge pages when it is asked to with `madvise(MADV_HUGEPAGE)`
//! (needed under the common `transparent_hugepage=madvise` setting) and the range is 2 MiB-aligned.
//! The rows are therefore placed at the first 2 MiB boundary of a slightly larger zeroed
//! allocation, and the advice is given before the first write, so the pages are huge when they are
//! first touched. Where the advice is unavailable or refused, the table is the same table in small
//! pages: only the speed differs.

use std::ops::Index;

type Row = [f32; 4];

const HUGE_PAGE: usize = 2 << 20;
const ROWS_PER_HUGE_PAGE: usize = HUGE_PAGE / std::mem::size_of::<Row>();

/// `len` rows of `[f32; 4]`, zeroed, starting on a 2 MiB boundary when the allocation allows it.
#[derive(Debug)]
pub struct WeightTable {
    storage: Vec<Row>,
    start: usize,
    len: usize,
}

impl WeightTable {
    pub fn zeroed(len: usize) -> WeightTable {
        // Small tables (tests, tiny hash spaces) gain nothing from huge pages.
        if len < ROWS_PER_HUGE_PAGE {
            return WeightTable {
                storage: vec![[0.0; 4]; len],
                start: 0,
                len,
            };
        }
        // A zeroed allocation this large comes straight from mmap: no page is touched yet.
        let storage = vec![[0.0f32; 4]; len + ROWS_PER_HUGE_PAGE];
        let address = storage.as_ptr() as usize;
        let start = (address.next_multiple_of(HUGE_PAGE) - address) / std::mem::size_of::<Row>();
        let table = WeightTable {
            storage,
            start,
            len,
        };
        table.advise_huge_pages();
        table
    }

    #[cfg(target_os = "linux")]
    fn advise_huge_pages(&self) {
        let rows = self.rows();
        // SAFETY: the range is memory this table owns; MADV_HUGEPAGE changes only how the kernel backs
        // it, never its contents, and a refusal (EINVAL on kernels without THP) leaves it as it was.
        let status = unsafe {
            libc::madvise(
                rows.as_ptr() as *mut libc::c_void,
                std::mem::size_of_val(rows),
                libc::MADV_HUGEPAGE,
            )
        };
        if status != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "The weight table stays in small pages."
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn advise_huge_pages(&self) {}

    pub fn rows(&self) -> &[Row] {
        &self.storage[self.start..self.start + self.len]
    }

    fn rows_mut(&mut self) -> &mut [Row] {
        &mut self.storage[self.start..self.start + self.len]
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Row> {
        self.rows_mut().get_mut(i)
    }
}

/// A copy is placed and advised like a new table: a derived clone would copy the rows into an
/// allocation with another alignment, and `start` would no longer fall on a huge page boundary.
impl Clone for WeightTable {
    fn clone(&self) -> Self {
        let mut copy = WeightTable::zeroed(self.len);
        copy.rows_mut().copy_from_slice(self.rows());
        copy
    }
}

impl Index<usize> for WeightTable {
    type Output = Row;

    #[inline]
    fn index(&self, i: usize) -> &Row {
        &self.rows()[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_tables_start_on_a_huge_page_boundary_and_are_zeroed() {
        let table = WeightTable::zeroed(1 << 20);
        assert_eq!(table.rows().len(), 1 << 20);
        assert_eq!(table.rows().as_ptr() as usize % HUGE_PAGE, 0);
        assert!(table.rows().iter().all(|r| *r == [0.0; 4]));
    }

    #[test]
    fn a_clone_has_the_same_rows_on_its_own_huge_page_boundary() {
        let mut table = WeightTable::zeroed(1 << 20);
        *table.get_mut(12_345).unwrap() = [1.0, 2.0, 3.0, 4.0];
        let copy = table.clone();
        assert_eq!(copy.rows(), table.rows());
        assert_eq!(copy.rows().as_ptr() as usize % HUGE_PAGE, 0);
    }

    #[test]
    fn writes_land_in_the_visible_rows() {
        for len in [16, 1 << 18] {
            let mut table = WeightTable::zeroed(len);
            *table.get_mut(len - 1).unwrap() = [1.0, 2.0, 3.0, 4.0];
            table.get_mut(0).unwrap()[2] = 5.0;
            assert_eq!(table[len - 1], [1.0, 2.0, 3.0, 4.0]);
            assert_eq!(table.rows()[0], [0.0, 0.0, 5.0, 0.0]);
            assert!(table.get_mut(len).is_none());
        }
    }
}
