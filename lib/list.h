/*
 * lib/list.h - intrusive doubly linked lists.
 *
 * Design: BIRD's and Linux's shape. A struct as_list is both the head of
 * a list and the link embedded in each element (an element may sit in
 * several lists through several links); AS_LIST_ENTRY gets the element
 * back from its link. The head is a circular sentinel, so insert and
 * unlink have no special cases and an element unlinks itself in O(1)
 * without knowing its list, the operation every connection table, pool
 * and deadline queue here needs. A link whose next is NULL is not in any
 * list: a zeroed (calloc'ed) element starts unlinked, as_list_remove()
 * leaves it so, and removing an unlinked element does nothing, so
 * teardown paths need not track which list an element is in. A head
 * must be set up with as_list_init(); a zeroed head is not an empty list.
 *
 * Iteration that may remove the current element uses
 * AS_LIST_FOREACH_SAFE; removing any other element during an iteration
 * is not supported. Everything is inline; no allocation.
 */
#ifndef ANYSTEER_LIB_LIST_H
#define ANYSTEER_LIB_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct as_list {
	struct as_list *prev, *next;
};

/* The element of type `type` whose member `member` is the link at ptr. */
#define AS_LIST_ENTRY(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void as_list_init(struct as_list *head)
{
	head->prev = head->next = head;
}

static inline bool as_list_empty(const struct as_list *head)
{
	return head->next == head;
}

/* Whether an element's link is in a list. */
static inline bool as_list_linked(const struct as_list *n)
{
	return n->next != NULL;
}

/* Unlinks n from its list; nothing when it is in none. */
static inline void as_list_remove(struct as_list *n)
{
	if (!as_list_linked(n))
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

static inline void as_list_insert_after_(struct as_list *at, struct as_list *n)
{
	n->prev = at;
	n->next = at->next;
	at->next->prev = n;
	at->next = n;
}

/* Inserts n first / last; an n already in a list (this or another) is
 * moved. */
static inline void as_list_push_front(struct as_list *head, struct as_list *n)
{
	as_list_remove(n);
	as_list_insert_after_(head, n);
}

static inline void as_list_push_back(struct as_list *head, struct as_list *n)
{
	as_list_remove(n);
	as_list_insert_after_(head->prev, n);
}

/* The first / last link, NULL when the list is empty. */
static inline struct as_list *as_list_first(const struct as_list *head)
{
	return head->next == head ? NULL : head->next;
}

static inline struct as_list *as_list_last(const struct as_list *head)
{
	return head->prev == head ? NULL : head->prev;
}

/* The link after n in the list headed by head, NULL after the last. */
static inline struct as_list *as_list_next(const struct as_list *head,
					   const struct as_list *n)
{
	return n->next == head ? NULL : n->next;
}

/* Visits every link; the body must not unlink n. */
#define AS_LIST_FOREACH(n, head) \
	for ((n) = (head)->next; (n) != (head); (n) = (n)->next)

/* Visits every link; the body may unlink (and free) n, nothing else. */
#define AS_LIST_FOREACH_SAFE(n, tmp, head) \
	for ((n) = (head)->next, (tmp) = (n)->next; (n) != (head); \
	     (n) = (tmp), (tmp) = (n)->next)

#endif
