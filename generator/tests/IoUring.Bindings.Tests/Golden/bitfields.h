/* Synthetic header (written for this project's golden tests): bitfields, signed and unsigned. */
#include <linux/types.h>

struct gold_bits {
	__u32 ready : 1;
	__u32 state : 3;
	__s32 delta : 5;
	__u32 rest : 23;
	__u16 small : 4;
	__u16 more : 12;
	__u8 last;
};
