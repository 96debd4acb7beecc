/* Synthetic header (written for this project's golden tests): flexible and zero-length arrays. */
#include <linux/types.h>

struct gold_item {
	__u64 addr;
	__u32 len;
	__u16 bid;
	__u16 resv;
};

struct gold_ring {
	__u32 count;
	__u32 flags;
	struct gold_item items[];
};

struct gold_cmd {
	__u64 id;
	__u8 payload[0];
};

struct gold_matrix {
	__u16 cells[2][3];
	__u32 rows[4];
};
