/* Synthetic header (written for this project's golden tests): nested anonymous members. */
#include <linux/types.h>

struct gold_nested {
	__u32 head;
	union {
		__u64 whole;
		union {
			__u32 lo_a;
			__u16 lo_b;
		};
		struct {
			__u32 low;
			__u32 high;
		};
	};
	struct {
		__u8 kind;
		__u8 pad[3];
	} named_anon;
	union {
		struct {
			__u16 a;
			__u16 b;
		};
		__u32 ab;
	};
	__u64 tail;
};

/* C# keywords and a member named like its struct. */
struct gold_names {
	__u32 event;
	__u32 params;
	__u32 gold_names;
	__s32 object;
};
