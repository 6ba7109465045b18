/*
 * The FF-A memory protocol as the kernel runs it, over the kernel's own
 * ownership table (kernel/ffa/ownership.h, written out as Promela by
 * //tests/model:ownership_table_gen and put before this file). NP
 * partitions own NPG pages between them and make every call they like, with
 * any arguments, in every interleaving: FFA_MEM_SHARE, _LEND and _DONATE of
 * any pages to any receivers, FFA_MEM_RETRIEVE_REQ, FFA_MEM_RELINQUISH and
 * FFA_MEM_RECLAIM of any transaction. The kernel serializes memory
 * transactions, so each call is one atomic step: it checks every page it
 * names against the table first and changes them only if all may change
 * (all or nothing); the transaction bookkeeping (who may retrieve, what is
 * still retrieved) is the kernel's as well. After every call the
 * invariants are asserted:
 *
 *   - every page has exactly one owner;
 *   - a page two partitions can access is shared by all of them (nobody
 *     has it exclusively, the owner included);
 *   - nothing leaks: a borrower's page is in a live transaction it has
 *     retrieved, an owner's page that is shared, lent or donated is in a
 *     live transaction it sent;
 *   - once no transaction is live, every page is its one owner's again,
 *     exclusively, and nobody else's at all.
 */

#define NP 3
#ifndef NPG
#define NPG 4  /* the test runs 3 (spin -DNPG=3), for time; 4 by hand (docs/ffa.md) */
#endif
#define NT 2
#define ALL_PAGES ((1 << NPG) - 1)

#define SHARE 1
#define LEND 2
#define DONATE 3

byte st[NP * NPG];  /* st[p * NPG + g]: partition p's state of page g */
#define ST(p, g) st[(p) * NPG + (g)]
#define HAS(mask, i) ((((mask) >> (i)) & 1) == 1)

typedef Txn {
  bool live;
  byte sender;
  byte kind;
  byte receivers;  /* bit mask of partitions */
  byte pages;      /* bit mask of pages */
  byte retrieved;  /* receivers holding it now */
};
Txn txn[NT];

/* Scratch for the calls, cleared at the end of each (every call is atomic). */
byte g, p, t, op, to, n, owners, acc, excl;
bool ok, okg, found;

inline clear_scratch() {
  g = 0; p = 0; t = 0; op = 0; to = 0; n = 0; owners = 0; acc = 0; excl = 0;
  ok = 0; okg = 0; found = 0
}

/* ok: operation `o` may change partition q's state of every page in `mask`. */
inline prepare(o, q, mask) {
  ok = 1;
  g = 0;
  do
  :: g < NPG ->
     if
     :: HAS(mask, g) -> transition(o, ST(q, g), okg, to); ok = ok && okg
     :: else -> skip
     fi;
     g++
  :: else -> break
  od
}

inline commit(o, q, mask) {
  g = 0;
  do
  :: g < NPG ->
     if
     :: HAS(mask, g) -> transition(o, ST(q, g), okg, to); assert(okg); ST(q, g) = to
     :: else -> skip
     fi;
     g++
  :: else -> break
  od
}

inline popcount(mask) {
  n = 0;
  p = 0;
  do
  :: p < NP -> if :: HAS(mask, p) -> n++ :: else -> skip fi; p++
  :: else -> break
  od
}

/* FFA_MEM_SHARE/_LEND/_DONATE by s. */
inline send(s, kind, recv, pages) {
  popcount(recv);
  if
  :: HAS(recv, s) || recv == 0 || pages == 0 || (kind == DONATE && n != 1) -> skip  /* INVALID_PARAMETERS */
  :: else ->
     t = 0;
     do
     :: t < NT && txn[t].live -> t++
     :: else -> break
     od;
     if
     :: t == NT -> skip  /* NO_MEMORY: no handle left */
     :: else ->
        if
        :: kind == SHARE -> op = OP_SHARE
        :: kind == LEND -> op = OP_LEND
        :: kind == DONATE -> op = OP_DONATE
        fi;
        prepare(op, s, pages);
        if
        :: ok ->
           commit(op, s, pages);
           txn[t].live = 1; txn[t].sender = s; txn[t].kind = kind;
           txn[t].receivers = recv; txn[t].pages = pages; txn[t].retrieved = 0
        :: else -> skip  /* DENIED */
        fi
     fi
  fi
}

/* FFA_MEM_RETRIEVE_REQ by r for transaction x. */
inline retrieve(r, x) {
  if
  :: txn[x].live && HAS(txn[x].receivers, r) && !HAS(txn[x].retrieved, r) ->
     popcount(txn[x].receivers);
     if
     :: txn[x].kind == DONATE -> op = OP_RETRIEVE_DONATED
     :: txn[x].kind == SHARE || (txn[x].kind == LEND && n > 1) -> op = OP_RETRIEVE_SHARED
     :: else -> op = OP_RETRIEVE_LENT
     fi;
     prepare(op, r, txn[x].pages);
     if
     :: ok && txn[x].kind == DONATE -> prepare(OP_DONATION_TAKEN, txn[x].sender, txn[x].pages)
     :: else -> skip
     fi;
     if
     :: ok ->
        commit(op, r, txn[x].pages);
        if
        :: txn[x].kind == DONATE ->
           /* the donor's pages go; the handle is freed */
           commit(OP_DONATION_TAKEN, txn[x].sender, txn[x].pages);
           txn[x].live = 0; txn[x].sender = 0; txn[x].kind = 0;
           txn[x].receivers = 0; txn[x].pages = 0; txn[x].retrieved = 0
        :: else -> txn[x].retrieved = txn[x].retrieved | (1 << r)
        fi
     :: else -> skip  /* DENIED */
     fi
  :: else -> skip  /* INVALID_PARAMETERS or DENIED: not its to retrieve */
  fi
}

/* FFA_MEM_RELINQUISH by r of transaction x. */
inline relinquish(r, x) {
  if
  :: txn[x].live && HAS(txn[x].retrieved, r) ->
     prepare(OP_RELINQUISH, r, txn[x].pages);
     if
     :: ok -> commit(OP_RELINQUISH, r, txn[x].pages); txn[x].retrieved = txn[x].retrieved & ~(1 << r)
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* FFA_MEM_RECLAIM by s of transaction x: only once nobody holds it. */
inline reclaim(s, x) {
  if
  :: txn[x].live && txn[x].sender == s && txn[x].retrieved == 0 ->
     prepare(OP_RECLAIM, s, txn[x].pages);
     if
     :: ok ->
        commit(OP_RECLAIM, s, txn[x].pages);
        txn[x].live = 0; txn[x].sender = 0; txn[x].kind = 0;
        txn[x].receivers = 0; txn[x].pages = 0; txn[x].retrieved = 0
     :: else -> skip
     fi
  :: else -> skip  /* DENIED while retrieved; INVALID_PARAMETERS for others */
  fi
}

inline check() {
  g = 0;
  do
  :: g < NPG ->
     owners = 0; acc = 0; excl = 0;
     p = 0;
     do
     :: p < NP ->
        if :: IS_OWNER(ST(p, g)) -> owners++ :: else -> skip fi;
        if
        :: IS_ACCESSIBLE(ST(p, g)) ->
           acc++;
           if :: ST(p, g) != OWNED_SHARED && ST(p, g) != BORROWED_SHARED -> excl++ :: else -> skip fi
        :: else -> skip
        fi;
        /* accounted for by a live transaction */
        found = 0;
        t = 0;
        do
        :: t < NT ->
           if
           :: txn[t].live && HAS(txn[t].pages, g) &&
              ((HAS(txn[t].retrieved, p) && (ST(p, g) == BORROWED || ST(p, g) == BORROWED_SHARED)) ||
               (txn[t].sender == p && (ST(p, g) == OWNED_SHARED || ST(p, g) == LENT || ST(p, g) == DONATED))) ->
              found = 1
           :: else -> skip
           fi;
           t++
        :: else -> break
        od;
        assert(found || ST(p, g) == NONE || ST(p, g) == OWNED);
        p++
     :: else -> break
     od;
     assert(owners == 1);
     assert(acc <= 1 || excl == 0);
     g++
  :: else -> break
  od;
  /* with nothing live, every page is one owner's alone */
  if
  :: !txn[0].live && !txn[1].live ->
     g = 0;
     do
     :: g < NPG ->
        n = 0;
        p = 0;
        do
        :: p < NP ->
           assert(ST(p, g) == OWNED || ST(p, g) == NONE);
           if :: ST(p, g) == OWNED -> n++ :: else -> skip fi;
           p++
        :: else -> break
        od;
        assert(n == 1);
        g++
     :: else -> break
     od
  :: else -> skip
  fi
}

/* A partition's calls: the arguments chosen freely, then the call and the
   check as one deterministic step. */
proctype partition(byte me) {
  byte kind, recv, pages, x;
  do
  :: atomic {
       if :: kind = SHARE :: kind = LEND :: kind = DONATE fi;
       /* receivers: never the sender, one for a donation (the kernel's
          argument checks refuse the rest before any page is looked at) */
       if
       :: recv = 1 << ((me + 1) % NP)
       :: recv = 1 << ((me + 2) % NP)
       :: kind != DONATE -> recv = (1 << ((me + 1) % NP)) | (1 << ((me + 2) % NP))
       fi;
       select(pages : 1 .. ALL_PAGES);
       d_step { send(me, kind, recv, pages); check(); clear_scratch(); kind = 0; recv = 0; pages = 0 }
     }
  :: atomic { select(x : 0 .. NT - 1); d_step { retrieve(me, x); check(); clear_scratch(); x = 0 } }
  :: atomic { select(x : 0 .. NT - 1); d_step { relinquish(me, x); check(); clear_scratch(); x = 0 } }
  :: atomic { select(x : 0 .. NT - 1); d_step { reclaim(me, x); check(); clear_scratch(); x = 0 } }
  od
}

init {
  atomic {
    /* page 0 (and 3, if there is one) is partition 0's, page 1 partition
       1's, page 2 partition 2's */
    g = 0;
    do
    :: g < NPG ->
       p = 0;
       do
       :: p < NP -> ST(p, g) = NONE; p++
       :: else -> break
       od;
       g++
    :: else -> break
    od;
    g = 0;
    do
    :: g < NPG -> ST(g % NP, g) = OWNED; g++
    :: else -> break
    od;
    check();
    clear_scratch();
    run partition(0);
    run partition(1);
    run partition(2)
  }
}
