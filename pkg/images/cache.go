package images

import (
	"container/list"
	"sync"
	"time"
)

// cache is a bounded map with an expiry per entry: when full, the least recently used entry
// makes room.
type cache[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *entry[K, V], most recently used first
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key     K
	value   V
	err     error
	expires time.Time
}

func newCache[K comparable, V any](max int) *cache[K, V] {
	return &cache[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}}
}

// get returns the entry of key unless it is missing or has expired at now.
func (c *cache[K, V]) get(key K, now time.Time) (v V, err error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[key]
	if !found {
		return v, nil, false
	}
	e := el.Value.(*entry[K, V])
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, key)
		return v, nil, false
	}
	c.order.MoveToFront(el)
	return e.value, e.err, true
}

// put stores value (or err) for key until expires.
func (c *cache[K, V]) put(key K, value V, err error, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, found := c.items[key]; found {
		e := el.Value.(*entry[K, V])
		e.value, e.err, e.expires = value, err, expires
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key: key, value: value, err: err, expires: expires})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*entry[K, V]).key)
	}
}

// len is the number of entries, expired ones included.
func (c *cache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
