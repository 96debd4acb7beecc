/* Synthetic header (written for this project's golden tests): enums and macros of every integer type. */
#include <linux/types.h>

enum gold_signed {
	GOLD_NEG = -3,
	GOLD_ZERO = 0,
	GOLD_POS = 7,
};

enum gold_big {
	GOLD_BIG_LOW = 1,
	GOLD_BIG_HIGH = 0x80000000,
};

enum {
	GOLD_ANON_A = 10,
	GOLD_ANON_B,
};

struct gold_sized {
	__u32 a;
	__u64 b;
};

#define GOLD_INT 1
#define GOLD_UINT 1U
#define GOLD_LONG 1L
#define GOLD_ULONG 1UL
#define GOLD_LLONG 1LL
#define GOLD_ULLONG 1ULL
#define GOLD_HEX_UINT 0x80000000
#define GOLD_NEG_INT (-1)
#define GOLD_ALL_ONES (~0U)
#define GOLD_ALL_ONES_UL (~0UL)
#define GOLD_CHAR 'a'
#define GOLD_SHIFT (1ULL << 40)
#define GOLD_FROM_ENUM (1U << GOLD_POS)
#define GOLD_FROM_MACRO (GOLD_SHIFT | GOLD_UINT)
#define GOLD_SIZEOF sizeof(struct gold_sized)
#define GOLD_CAST ((__u16)0x1ffff)
#define GOLD_STRING "not a number"
#define GOLD_FLOAT 1.5
#define GOLD_FUNC(x) ((x) + 1)
#define GOLD_EMPTY
