/*
 * k8s/k8s_json.h - internal to k8s/: the JSON and name helpers shared by
 * objs.c, node.c, ingress.c, gateway.c, status.c and lease.c. Not part of the
 * module's interface (that is k8s/k8s.h only).
 */
#ifndef ANYSTEER_K8S_JSON_H
#define ANYSTEER_K8S_JSON_H

#include <jansson.h>

#include "k8s/k8s.h"

/* A member that must be a string if present: 0 (*out NULL when absent
 * or null) or -1 when it has another type. */
int k8s__str(const json_t *obj, const char *name, const char **out);
/* A member that must be of type if present (NULL when absent). */
int k8s__typed(const json_t *obj, const char *name, json_type type,
	       json_t **out);
/* A member that must be an integer in [lo, hi] if present (*out
 * untouched when absent). */
int k8s__int(const json_t *obj, const char *name, int64_t lo, int64_t hi,
	     int64_t *out);
/* strdup of s, or of "" when s is NULL. */
char *k8s__dup(const char *s);

/* metadata: name required, namespace required unless cluster. */
int k8s__meta(const json_t *obj, bool cluster, struct k8s_meta *md);
void k8s__meta_free(struct k8s_meta *md);

/* A conditions array (metav1.Condition). -1 when malformed. */
int k8s__conds(const json_t *arr, struct k8s_condition **out, size_t *n);
void k8s__conds_free(struct k8s_condition *c, size_t n);
int k8s__cond_set(struct k8s_condition *c, const char *type, bool status,
		  const char *reason, const char *message, int64_t gen);

void k8s__strv_free(char **v, size_t n);
/* Appends a copy of s to *v (*n entries, *cap room). -1 on memory. */
int k8s__strv_add(char ***v, size_t *n, size_t *cap, const char *s);

/* Appends a warning (printf-style message). -1 on memory. */
int k8s__warn(struct k8s_warning **v, size_t *n, const char *reason,
	      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Names the object the last of the n warnings in v is about. -1 on memory. */
int k8s__warn_obj(struct k8s_warning *v, size_t n, int okind, const char *ns,
		  const char *name);
void k8s__warnings_free(struct k8s_warning *v, size_t n);

/* Whether host (as written in an object, trailing dot optional) is one
 * label below zone ("a.zone" or the wildcard "*.zone"). Returns NULL and
 * new *fqdn ("a.zone.", lower case) / *label, or the reason it is not
 * (nothing allocated). On memory: "out of memory". */
const char *k8s__zone_host(const char *zone, const char *host, char **fqdn,
			   char **label, bool *wildcard);

/* The store's view of Service ns/name for a backend (k8s_model.c): its
 * ports with target ports into e->ports when e has none yet, its ready
 * endpoints on this node appended to e->endpoints with the given weight
 * (duplicates skipped, sorted), and its ready endpoints on every node
 * added to *n_ready (NULL ok). AS_OK, AS_ENOTFOUND (no such Service, or
 * an ExternalName one) or AS_ENOMEM. */
int k8s__store_service(const k8s_store_t *store, const char *ns,
		       const char *name, uint32_t weight, struct k8s_entry *e,
		       size_t *n_ready);
/* Frees what e holds and zeroes it. */
void k8s__entry_free(struct k8s_entry *e);

/* The intent annotations in ann (an annotations object; NULL: none),
 * with the configuration's checks (k8s_model.c: the one parser for
 * Services, Ingresses and routes). 0 with *out set (error NULL), or -1
 * with why saying which annotation and what it must be, and *out empty.
 * The store's Services refuse the update on -1; Ingresses and routes
 * keep their last valid intent and say why (objs.c, publish.c). */
int k8s__intent_parse(const json_t *ann, struct k8s_intent *out, char *why,
		      size_t why_len);
/* Whether in holds any annotation (an object's own intent). */
bool k8s__intent_set(const struct k8s_intent *in);
/* Copies objective, spill_over and spread (not error). -1 on memory. */
int k8s__intent_copy(struct k8s_intent *dst, const struct k8s_intent *src);
void k8s__intent_free(struct k8s_intent *in);	/* and zeroes it */
/* The intent annotations of Service ns/name (valid until the store
 * changes). AS_OK or AS_ENOTFOUND. */
int k8s__store_intent(const k8s_store_t *store, const char *ns,
		      const char *name, const struct k8s_intent **out);

/* Parses a JSON text that must be an object. NULL on error. */
json_t *k8s__load(const char *json, size_t len);

/* One page of a list response of list_kind ("NodeList"): its items, and
 * metadata.resourceVersion and .continue copied to rv and cont ("" when
 * absent; both may be NULL). Returns the parsed text (the caller
 * decrefs it; items point into it) or NULL when it is not such a list. */
json_t *k8s__list_open(const char *json, size_t len, const char *list_kind,
		       json_t **items, char *rv, size_t rv_len, char *cont,
		       size_t cont_len);
/* One watch event line: info's type, ERROR code and the object's
 * resourceVersion, *obj the object. Returns the parsed text (caller
 * decrefs) or NULL when it is not a watch event (info->type 0). */
json_t *k8s__event_open(const char *json, size_t len,
			struct k8s_event_info *info, json_t **obj);

#endif
