/* mailbox/name-arena - a folder's file names, one buffer for all of them
 * (internal.h).  A name of about 50 bytes cost 64 of malloc and an 8-byte
 * pointer each; here it costs its length, its NUL and a 4-byte offset.  A
 * message renamed (its flags changed) or expunged leaves its old name dead
 * in the buffer: once dead names are most of it, the live ones are written
 * into a new buffer (name_arena_compact). */
#include "mailbox/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* compacted only past this many dead bytes: a small folder's few renames
 * are not worth a copy */
#define NAME_ARENA_DEAD_MIN 4096

void name_arena_init(struct name_arena *arena)
{
	*arena = (struct name_arena){ 0 };
}

void name_arena_free(struct name_arena *arena)
{
	free(arena->data);
	name_arena_init(arena);
}

void name_arena_reserve(struct name_arena *arena, size_t bytes)
{
	if (arena->len + bytes <= arena->cap)
		return;
	size_t cap = arena->cap + arena->cap / 2;
	if (cap < arena->len + bytes)
		cap = arena->len + bytes;
	if (cap > NAME_ARENA_MAX)
		cap = NAME_ARENA_MAX;
	if (arena->len + bytes > cap)
		abort();   /* over 4 GiB of names: some 70 million messages */
	arena->data = xrealloc(arena->data, cap);
	arena->cap = cap;
}

uint32_t name_arena_add(struct name_arena *arena, const char *name)
{
	size_t len = strlen(name) + 1;
	name_arena_reserve(arena, len);
	uint32_t at = (uint32_t)arena->len;
	memcpy(arena->data + at, name, len);
	arena->len += len;
	return at;
}

const char *name_arena_get(const struct name_arena *arena, uint32_t at)
{
	return arena->data + at;
}

void name_arena_drop(struct name_arena *arena, uint32_t at)
{
	arena->dead += strlen(arena->data + at) + 1;
}

void name_arena_recount(struct name_arena *arena, const uint32_t *names, size_t count,
			size_t stride)
{
	size_t live = 0;
	for (size_t i = 0; i < count; i++) {
		const uint32_t *at = (const uint32_t *)((const char *)names + i * stride);
		live += strlen(arena->data + *at) + 1;
	}
	arena->dead = arena->len - live;
}

void name_arena_fit(struct name_arena *arena)
{
	if (arena->cap - arena->len <= arena->len / 8 || arena->len == 0)
		return;
	arena->data = xrealloc(arena->data, arena->len);
	arena->cap = arena->len;
}

bool name_arena_compact(struct name_arena *arena, uint32_t *names, size_t count, size_t stride)
{
	if (arena->dead < NAME_ARENA_DEAD_MIN || arena->dead * 2 < arena->len)
		return false;
	struct name_arena fresh;
	name_arena_init(&fresh);
	name_arena_reserve(&fresh, arena->len - arena->dead);
	for (size_t i = 0; i < count; i++) {
		uint32_t *at = (uint32_t *)((char *)names + i * stride);
		*at = name_arena_add(&fresh, name_arena_get(arena, *at));
	}
	free(arena->data);
	*arena = fresh;
	return true;
}
